"""Seeded generators of preference matrices, each documented with what makes it cyclic (or, for the control, not).

Every generator returns a validated float64 matrix ``[n, n]`` (``P + Pᵀ = 1``, diagonal ½) and takes keyword
parameters only, so the CLI and configs can address it as ``name:key=value,...`` (see :mod:`nashlab.games.spec`).
:data:`GENERATORS` maps each name to its function; ``nashlab games`` lists them with their parameters.
"""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np
from scipy.special import expit

from .preference import validate_preference_matrix


def _check_n(n: int, minimum: int = 1) -> int:
    if not (isinstance(n, (int, np.integer)) and n >= minimum):
        raise ValueError(f"n must be an integer ≥ {minimum}; got {n!r}")
    return int(n)


def _check_unit(value: float, name: str, *, lo: float = 0.0, hi: float = 1.0) -> float:
    value = float(value)
    if not (lo <= value <= hi):
        raise ValueError(f"{name} must lie in [{lo:g}, {hi:g}]; got {value!r}")
    return value


#: Largest scale-like parameter (spread, scale, concentration): beyond it every σ(·) is already 0 or 1 in float64,
#: and products of larger values overflow.
MAX_SCALE = 1e6
#: Largest number of entries a generator's intermediate arrays may hold (raters × n², …): a dense float64 [n, n]
#: matrix at the spec limit n = 20,000 has 4e8.
MAX_ENTRIES = 4 * 10**8


def _check_positive(value: float, name: str) -> float:
    value = float(value)
    if not (0 < value <= MAX_SCALE):
        raise ValueError(f"{name} must be a number in (0, {MAX_SCALE:g}]; got {value!r}")
    return value


def _from_skew(A: np.ndarray) -> np.ndarray:
    """``P = ½ + A`` for a skew-symmetric ``A`` with ``|A| ≤ ½``, re-symmetrised exactly."""
    A = 0.5 * (A - A.T)
    return validate_preference_matrix(0.5 + A)


def cyclic(n: int = 3, margin: float = 1.0) -> np.ndarray:
    """Generalised rock-paper-scissors (the cyclic n-tournament).

    Action ``i`` beats ``i+1, …, i+⌊(n−1)/2⌋`` (mod n) with probability ``½ + margin/2``; for even n the opposite
    action ``i + n/2`` ties at ½. Every action beats exactly as many as it loses to, so ``P·u = ½`` for the uniform
    ``u``: uniform is a Nash equilibrium. Since ``1ᵀA = 0`` for ``A = P − ½``, the equilibria ``{π ∈ Δ : Aπ ≤ 0}`` are
    exactly ``{π ∈ Δ : Aπ = 0}``, the simplex cut by the kernel of the circulant ``A``. For odd n that kernel is
    spanned by ``1`` (eigenvalues ``i·margin·Σ_{k≤(n−1)/2} sin(2πjk/n) ≠ 0`` for ``j ≠ 0``): uniform is the unique
    equilibrium. For even n the kernel holds every ``n/2``-periodic vector (``v_i = v_{i+n/2}``: each action weighted
    like its opposite) and, when ``n ≡ 2 (mod 4)``, also the alternating vector ``(1, −1, 1, …)``; the equilibria are
    the distributions in that kernel, a polytope through uniform of dimension ``n/2 − 1`` (``n ≡ 0 mod 4``) or
    ``n/2`` (``n ≡ 2 mod 4``). For n = 4 it is the segment ``u + t(1, −1, 1, −1)/4``, ``|t| ≤ 1``.
    ``n = 3, margin = 1`` is rock-paper-scissors. (Checked in ``tests/games/test_generators.py``.)

    Args:
        n: number of actions (≥ 1).
        margin: ``ε ∈ (0, 1]``, the winning probability minus the losing one.
    """
    n = _check_n(n)
    margin = _check_unit(margin, "margin")
    A = np.zeros((n, n))
    for k in range(1, (n - 1) // 2 + 1):
        A += np.roll(np.eye(n), k, axis=1)  # A[i, i+k] = 1: i beats i+k
    return _from_skew(0.5 * margin * (A - A.T))


def skew(n: int = 10, scale: float = 1.0, seed: int = 0) -> np.ndarray:
    """Random skew-symmetric game: ``P = ½ + scale·A/2`` with ``A_ij = −A_ji ~ U(−1, 1)`` for ``i < j``.

    Cyclic almost surely: a random skew-symmetric flow has a non-zero divergence-free (curl) component, so
    preferences contain 3-cycles.
    """
    n = _check_n(n)
    scale = _check_unit(scale, "scale")
    rng = np.random.default_rng(seed)
    U = np.triu(rng.uniform(-1.0, 1.0, size=(n, n)), 1)
    return _from_skew(0.5 * scale * (U - U.T))


def egpo(n: int = 10, seed: int = 0) -> np.ndarray:
    """The random games of the EGPO simulations (Zhou, Fazel, Du, arXiv 2503.08942; ``gen_preference_matrix``).

    For ``i > j``: ``P_ij ~ U(0, 1)``; above the diagonal ``P_ji = 1 − P_ij``; diagonal ½. Generic instances are
    non-transitive (their maximal lottery is mixed) with an interior regularised equilibrium.
    """
    n = _check_n(n)
    rng = np.random.default_rng(seed)
    L = np.tril(rng.uniform(0.0, 1.0, size=(n, n)), -1)
    P = L + np.triu(1.0 - L.T, 1)
    np.fill_diagonal(P, 0.5)
    return validate_preference_matrix(P)


def hodge_parts(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hodge decomposition of a skew-symmetric flow on the complete graph: ``A = grad(s) + C``.

    ``grad(s)_ij = s_i − s_j`` with ``s = A·1/n`` (the least-squares potential) is the transitive part; the remainder
    ``C`` is divergence-free (``C·1 = 0``), the cyclic part. The two are orthogonal in the Frobenius inner product.
    """
    s = A.mean(axis=1)
    G = s[:, None] - s[None, :]
    return G, A - G


def hodge(n: int = 10, cyclic: float = 0.5, scale: float = 0.9, seed: int = 0) -> np.ndarray:
    """Transitive + cyclic mixture with an intransitivity knob, built from the Hodge decomposition.

    A random skew flow is split into its gradient (transitive) part ``G`` and divergence-free (cyclic) part ``C``
    (:func:`hodge_parts`); each is normalised to unit Frobenius norm and mixed as ``F = (1 − c)·G + c·C``, then
    ``P = ½ + scale·F / (2 max|F|)``. ``cyclic = 0`` is purely transitive (a Condorcet winner, a pure equilibrium);
    ``cyclic = 1`` is purely cyclic (``C·1 = 0`` so uniform is an equilibrium); in between the intransitivity grows
    with ``c``.

    Args:
        n: actions (≥ 3 for a non-trivial cyclic part).
        cyclic: the knob ``c ∈ [0, 1]``.
        scale: maximal ``|P − ½|·2``, in ``(0, 1]``.
        seed: random seed.
    """
    n = _check_n(n)
    c = _check_unit(cyclic, "cyclic")
    scale = _check_unit(scale, "scale")
    rng = np.random.default_rng(seed)
    U = np.triu(rng.normal(size=(n, n)), 1)
    G, C = hodge_parts(U - U.T)
    G = G / max(np.linalg.norm(G), 1e-300)
    C = C / max(np.linalg.norm(C), 1e-300)
    F = (1.0 - c) * G + c * C
    m = np.abs(F).max()
    return _from_skew(0.5 * scale * F / m if m > 0 else F)


def bradley_terry(n: int = 10, spread: float = 2.0, seed: int = 0) -> np.ndarray:
    """Bradley–Terry (the transitive control): ``P_ij = σ(r_i − r_j)`` with rewards ``r ~ N(0, spread²)``.

    Transitive by construction: ``argmax r`` beats every other action with probability > ½, a Condorcet winner, so
    the unique equilibrium of the original game is that pure action.
    """
    n = _check_n(n)
    spread = _check_positive(spread, "spread")
    r = np.random.default_rng(seed).normal(scale=spread, size=n)
    return _from_skew(expit(r[:, None] - r[None, :]) - 0.5)


def annotators(
    n: int = 10, raters: int = 3, spread: float = 5.0, concentration: float = 20.0, rotation: float = 0.9,
    seed: int = 0,
) -> np.ndarray:
    """A population of annotators, each Bradley–Terry (transitive), whose aggregate preference is non-transitive.

    Rater ``k`` has rewards ``r_k = spread·(ρ·√12·c_k + √(1−ρ²)·z_k)`` and weight ``w_k``
    (``w ~ Dirichlet(concentration·1)``); ``P = Σ_k w_k σ(r_k,i − r_k,j)``. Here ``z_k ~ N(0, I)`` is the rater's
    idiosyncratic taste and ``c_k(i) = ((pos(i) + k·n/K) mod n)/n − ½`` is a shared random ranking ``pos`` rotated by
    ``k/K`` of a turn (``√12`` gives it unit variance), ``ρ = rotation``.

    What makes it cyclic: with ``ρ → 1`` and comparable weights the raters' rankings form a Latin square, the classic
    Condorcet profile in which every action is beaten by a majority (the voting paradox), so no Condorcet winner exists
    and the maximal lottery is mixed. ``ρ = 0`` gives independent raters, whose soft-majority is mostly transitive.
    Measured fraction of seeds 0–199 with a mixed (non-transitive) equilibrium at the defaults: n = 3: 72 %,
    n = 10: 84 %, n = 30: 94 %; with ``rotation=0`` (independent raters), n = 10: 22 %
    (``tests/games/test_generators.py::test_annotators_mostly_non_transitive`` re-measures it).

    Args:
        n: actions (≥ 1).
        raters: number of annotators ``K ≥ 1``.
        spread: reward scale (larger = sharper individual preferences), > 0.
        concentration: Dirichlet concentration of the rater weights (larger = more equal weights), > 0.
        rotation: ``ρ ∈ [0, 1]``, the weight of the rotated shared ranking (the intransitivity knob).
        seed: random seed.
    """
    n = _check_n(n)
    if not (isinstance(raters, (int, np.integer)) and raters >= 1):
        raise ValueError(f"raters must be an integer ≥ 1; got {raters!r}")
    if raters * n * n > MAX_ENTRIES:
        raise ValueError(f"raters × n² = {raters * n * n:.3g} is too large (at most {MAX_ENTRIES:.3g}); got raters={raters}")
    spread = _check_positive(spread, "spread")
    concentration = _check_positive(concentration, "concentration")
    rho = _check_unit(rotation, "rotation")
    K = int(raters)
    rng = np.random.default_rng(seed)
    pos = np.empty(n)
    pos[rng.permutation(n)] = np.arange(n)
    c = ((pos[None, :] + np.arange(K)[:, None] * n / K) % n) / n - 0.5  # [K, n] rotated shared rankings
    z = rng.normal(size=(K, n))
    r = spread * (rho * np.sqrt(12.0) * c + np.sqrt(1.0 - rho**2) * z)
    w = rng.dirichlet(np.full(K, concentration))
    P = np.einsum("k,kij->ij", w, expit(r[:, :, None] - r[:, None, :]))
    return _from_skew(P - 0.5)


def embedding(n: int = 10, dim: int = 4, scale: float = 2.0, seed: int = 0) -> np.ndarray:
    """Latent skew-symmetric embedding game (General Preference Model style): ``P_ij = σ(u_iᵀ R u_j)``.

    ``u_i ~ N(0, I_dim)`` and ``R`` is block-diagonal with 2×2 blocks ``[[0, λ_k], [−λ_k, 0]]``,
    ``λ_k ~ U(0.5, 1)·scale``. ``R`` skew gives ``u_iᵀRu_j = −u_jᵀRu_i``, hence ``P + Pᵀ = 1``; a skew bilinear form
    is rotation-like and so produces cycles that no scalar reward (Bradley–Terry) can express. ``dim`` must be even.
    """
    n = _check_n(n)
    if not (isinstance(dim, (int, np.integer)) and dim >= 2 and dim % 2 == 0):
        raise ValueError(f"dim must be an even integer ≥ 2; got {dim!r}")
    if dim * max(n, dim) > MAX_ENTRIES:
        raise ValueError(f"dim = {dim} is too large for n = {n} (at most {MAX_ENTRIES:.3g} entries in u and R)")
    scale = _check_positive(scale, "scale")
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n, int(dim)))
    R = np.zeros((dim, dim))
    for k in range(dim // 2):
        lam = rng.uniform(0.5, 1.0) * scale
        R[2 * k, 2 * k + 1], R[2 * k + 1, 2 * k] = lam, -lam
    return _from_skew(expit(u @ R @ u.T) - 0.5)


#: name → generator. Order is the order ``nashlab games`` lists them in.
GENERATORS: dict[str, Callable[..., np.ndarray]] = {
    "cyclic": cyclic,
    "skew": skew,
    "egpo": egpo,
    "hodge": hodge,
    "bt": bradley_terry,
    "annotators": annotators,
    "embedding": embedding,
}


def generator_params(name: str) -> dict[str, object]:
    """The keyword parameters of a generator and their defaults."""
    sig = inspect.signature(GENERATORS[name])
    return {k: p.default for k, p in sig.parameters.items()}


def make_matrix(name: str, **params) -> np.ndarray:
    """Build a matrix by generator name; unknown names or parameters raise a ``ValueError`` listing the valid ones."""
    if name not in GENERATORS:
        raise ValueError(f"unknown game generator {name!r}; choose from {', '.join(GENERATORS)}")
    valid = generator_params(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for generator {name!r}; valid: {', '.join(valid)}")
    return GENERATORS[name](**params)
