"""The set of Nash equilibria of the original (β = 0) game, and whether it is a single policy.

For a symmetric constant-sum game (``P + Pᵀ = 1``, value ½) the equilibria are exactly the polytope

    E = {σ ∈ Δ : Pσ ≤ ½}        (no action wins more than half against σ).

Most games have one equilibrium, but not all: in ``cyclic:n=2`` (P = ½ everywhere) every policy is one, and a cloned
action splits its mass arbitrarily with its clone. There ``KL(σ*‖π)`` to one LP vertex ``σ*`` says nothing about
convergence (``π`` = uniform has ``DG_0 = 0`` but ``KL = log 2`` to the vertex ``(1, 0)``), so :func:`nashlab.solvers.solve`
reports ``kl_to_nash`` as undefined (NaN, null in JSON) for such games and the CLI says why. (The KL to the set,
``min_{σ ∈ E} KL(σ‖π)``, is convex, but a dual L-BFGS solve took 50–250 ms per policy at n = 4–20, too slow for every
trace record; ``duality_gap`` measures convergence to E exactly.)

How uniqueness is decided, with one LP instead of 2n (max and min of every coordinate over E):

* Homogenise: ``K = {x ≥ 0 : (P − ½)x ≤ 0}`` is the cone over E. Maximise ``Σ_i w_i + Σ_y v_y`` subject to
  ``w_i ≤ x_i``, ``v_y ≤ −((P − ½)x)_y``, ``0 ≤ w, v ≤ 1``. K is closed under sums and positive scaling, so one optimum
  has ``w_i = 1`` for every action some equilibrium plays (the *essential set* S) and ``v_y = 1`` for every
  inequality that some equilibrium satisfies strictly; all others are 0 (``x/Σx`` is then a relative-interior point).
* Every equilibrium lives on S and meets the other inequalities (``y ∈ T``) with equality, so the affine hull of E is
  ``{σ : supp σ ⊆ S, 1ᵀσ = 1, ((P − ½)σ)_y = 0 for y ∈ S ∪ T}`` and ``dim E = |S| − rank [(P − ½)_{S∪T, S}; 1ᵀ]``.
  E is a single policy iff that dimension is 0.

``tests/games/test_equilibrium_set.py`` checks this against the 2n-LP computation (coordinate ranges over E).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Relative tolerance of the rank test on ``[(P − ½)_{S∪T, S}; 1ᵀ]`` (entries are at most 1 in absolute value).
RANK_TOL = 1e-9
#: Largest ``n`` checked: the LP has 3n variables and a dense ``n × n`` block (n = 400: under a second, about as long
#: as the equilibrium's own LP); larger games are assumed to have a unique equilibrium, as generic games do.
MAX_CHECKED_ACTIONS = 500


@dataclass(frozen=True)
class EquilibriumSet:
    """The β = 0 equilibrium set ``E = {σ ∈ Δ : Pσ ≤ ½}`` of one game.

    Attributes:
        essential: the actions some equilibrium plays (``S``), ascending.
        dimension: ``dim E`` (0: a single equilibrium).
        interior: an equilibrium in the relative interior of ``E`` (support exactly ``S``).
    """

    essential: np.ndarray
    dimension: int
    interior: np.ndarray

    @property
    def unique(self) -> bool:
        return self.dimension == 0


def equilibrium_set(P) -> EquilibriumSet:
    """Describe the equilibrium set of one game ``P [n, n]`` (see the module docstring for the method).

    Raises:
        ValueError: ``P`` is not a single ``[n, n]`` matrix.
        RuntimeError: the LP solver failed.

    >>> equilibrium_set([[0.5, 0.5], [0.5, 0.5]]).dimension
    1
    >>> equilibrium_set([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]]).unique
    True
    """
    from scipy.optimize import linprog
    from scipy.sparse import bmat, identity

    A = np.asarray(P, dtype=np.float64) - 0.5
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"equilibrium_set takes one [n, n] matrix; got shape {A.shape}")
    n = A.shape[0]
    eye = identity(n, format="csr")
    # variables [x, w, v]; rows: w − x ≤ 0 and v + (P − ½)x ≤ 0
    A_ub = bmat([[-eye, eye, None], [A, None, eye]], format="csr")
    c = np.concatenate([np.zeros(n), -np.ones(2 * n)])
    bounds = [(0, None)] * n + [(0, 1)] * (2 * n)
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(2 * n), bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"equilibrium_set: the LP failed ({res.message})")
    x, w, v = res.x[:n], res.x[n:2 * n], res.x[2 * n:]
    essential = np.flatnonzero(w > 0.5)
    tight = np.flatnonzero(v <= 0.5)  # inequalities every equilibrium meets with equality (S among them)
    M = np.vstack([A[np.ix_(tight, essential)], np.ones((1, essential.size))])
    sv = np.linalg.svd(M, compute_uv=False)
    rank = int((sv > RANK_TOL * max(1.0, sv.max(initial=0.0))).sum())
    interior = np.zeros(n)
    interior[essential] = x[essential] / x[essential].sum()
    return EquilibriumSet(essential=essential, dimension=int(essential.size - rank), interior=interior)


def equilibrium_unique(P) -> np.ndarray:
    """Whether each game of a batch ``P [..., n, n]`` has a single β = 0 equilibrium: bool ``[...]`` (a 0-d array
    for one game). Games with more than :data:`MAX_CHECKED_ACTIONS` actions, or whose LP fails, are not checked and
    count as unique (callers then report the KL to the LP's equilibrium, as for a unique one).

    >>> bool(equilibrium_unique([[0.5, 0.5], [0.5, 0.5]]))
    False
    """
    P = np.asarray(P, dtype=np.float64)
    flat = P.reshape(-1, P.shape[-2], P.shape[-1])
    if P.shape[-1] > MAX_CHECKED_ACTIONS:
        return np.ones(P.shape[:-2], dtype=bool)
    out = np.ones(flat.shape[0], dtype=bool)
    for b, m in enumerate(flat):
        try:
            out[b] = equilibrium_set(m).unique
        except RuntimeError:
            pass
    return out.reshape(P.shape[:-2])
