"""Preference games ``P[i, j] = Pr(y_i ≻ y_j)`` with ``P + Pᵀ = 1``, validated once at construction.

A :class:`PreferenceGame` holds one matrix ``[n, n]`` or a batch ``[..., n, n]`` (one matrix per prompt or per game
instance), an optional reference policy ``π_ref`` and a KL weight ``β ≥ 0``. Every check raises a ``ValueError`` that
names the violation, so a malformed matrix never reaches a solver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Tolerance on ``max |P + Pᵀ − 1|``. Matrices written to text with ~12 significant digits pass; a matrix that only
#: approximately satisfies the constraint (e.g. a judge's raw scores) must be symmetrised first (see ``symmetrize``).
SKEW_TOL = 1e-9
#: Tolerance on a reference policy's total mass.
SIMPLEX_TOL = 1e-9


def _fmt_index(idx: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(int(i)) for i in idx) + ")"


def validate_preference_matrix(P, *, tol: float = SKEW_TOL, name: str = "P") -> np.ndarray:
    """Return ``P`` as a float64 array after checking it is a batch of preference matrices.

    Checks, in order: numeric, at least 2-D, square in the last two axes with ``n ≥ 1``, finite, within ``[0, 1]``, and
    ``max |P + Pᵀ − 1| ≤ tol`` (which forces the diagonal to ½).

    Args:
        P: array-like ``[..., n, n]``.
        tol: tolerance on ``|P + Pᵀ − 1|``.
        name: the argument's name in error messages.

    Returns:
        ``np.ndarray`` of dtype float64, shape ``[..., n, n]`` (a copy; the caller's array is never aliased).

    Raises:
        ValueError: naming the first violated condition, the offending entry and by how much.

    >>> validate_preference_matrix([[0.5, 0.7], [0.3, 0.5]]).shape
    (2, 2)
    """
    try:
        arr = np.array(P, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array; could not convert it ({exc})") from None
    if arr.ndim < 2:
        raise ValueError(f"{name} must have shape [..., n, n]; got shape {arr.shape}")
    if arr.shape[-1] != arr.shape[-2]:
        raise ValueError(f"{name} must be square in its last two axes; got shape {arr.shape}")
    if arr.shape[-1] < 1:
        raise ValueError(f"{name} must have at least one action; got shape {arr.shape}")
    n = arr.shape[-1]
    # Fast path: ``0 ≤ min`` and ``max ≤ 1`` hold only when every entry is finite and in range (a NaN makes both NaN,
    # and NaN compares False), so the element-wise masks below are built only for a matrix that fails a check.
    lo, hi = (arr.min(), arr.max()) if arr.size else (0.0, 0.0)
    in_range = bool(lo >= 0.0) and bool(hi <= 1.0)
    bad = np.zeros(0, bool) if in_range else ~np.isfinite(arr)
    if bad.any():
        idx = tuple(np.argwhere(bad)[0])
        raise ValueError(f"{name} must be finite; {name}{_fmt_index(idx)} = {arr[idx]} ({int(bad.sum())} non-finite entries)")
    out = np.zeros(0, bool) if in_range else (arr < 0.0) | (arr > 1.0)
    if out.any():
        idx = tuple(np.argwhere(out)[0])
        raise ValueError(
            f"{name} entries must lie in [0, 1]; {name}{_fmt_index(idx)} = {float(arr[idx])!r} "
            f"({int(out.sum())} entries outside)"
        )
    # max |P + Pᵀ − 1|, a few games at a time into one small buffer (a batch-sized temporary cost more in page faults
    # than the arithmetic: B = 256, n = 100 took 24-48 ms with three of them, 12-30 ms this way, copy included).
    flat = arr.reshape(-1, n, n)
    step = max(1, 65536 // (n * n))
    buf = np.empty((min(step, flat.shape[0]), n, n))
    worst = 0.0
    for i in range(0, flat.shape[0], step):
        chunk = flat[i:i + step]
        r = buf[: chunk.shape[0]]
        np.add(chunk, np.swapaxes(chunk, -1, -2), out=r)
        r -= 1.0
        np.abs(r, out=r)
        worst = max(worst, float(r.max()))
    if not worst <= tol:
        resid = np.abs(arr + np.swapaxes(arr, -1, -2) - 1.0)
        idx = np.unravel_index(int(np.argmax(resid)), resid.shape)
        raise ValueError(
            f"{name} + {name}ᵀ must equal 1 within {tol:g}; max |{name} + {name}ᵀ − 1| = {worst:.2e} at "
            f"{_fmt_index(idx)} ({name}{_fmt_index(idx)} = {arr[idx]:.6g}, "
            f"{name}{_fmt_index(idx[:-2] + (idx[-1], idx[-2]))} = {arr[idx[:-2] + (idx[-1], idx[-2])]:.6g})"
        )
    return arr


def validate_policy(pi, n: int, *, name: str = "pi_ref", tol: float = SIMPLEX_TOL) -> np.ndarray:
    """Return ``pi`` as float64 ``[..., n]`` after checking it is a probability vector of length ``n``.

    Raises:
        ValueError: wrong length, non-finite, negative entries, or total mass ≠ 1 beyond ``tol``.
    """
    try:
        arr = np.array(pi, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric vector; could not convert it ({exc})") from None
    if arr.ndim < 1 or arr.shape[-1] != n:
        raise ValueError(f"{name} must have length {n} (one entry per action); got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite; got {int((~np.isfinite(arr)).sum())} non-finite entries")
    if (arr < 0).any():
        idx = tuple(np.argwhere(arr < 0)[0])
        raise ValueError(f"{name} must be non-negative; {name}{_fmt_index(idx)} = {arr[idx]:.6g}")
    mass = arr.sum(-1)
    worst = float(np.abs(mass - 1.0).max())
    if not worst <= tol:
        raise ValueError(f"{name} must sum to 1 within {tol:g}; its entries sum to {float(mass.flat[np.argmax(np.abs(mass - 1.0))]):.12g}")
    return arr / mass[..., None]


def validate_beta(beta, *, name: str = "beta") -> float:
    """Return ``beta`` as a float after checking it is finite and ``≥ 0`` (written so that NaN fails)."""
    try:
        value = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number ≥ 0; got {beta!r}") from None
    if not (value >= 0 and np.isfinite(value)):
        raise ValueError(f"{name} must be a finite number ≥ 0; got {beta!r}")
    return value


#: Seeds are integers in ``[0, MAX_SEED)``: what numpy, torch and a 64-bit signed store column all accept.
MAX_SEED = 2**63


def validate_seed(seed, *, name: str = "seed") -> int:
    """Return ``seed`` as an int after checking ``0 ≤ seed < 2**63`` (an integer, not a bool).

    The one seed check of nashlab: spec parameters, reference and init specs, and CLI flags all call it, each passing
    the name the user wrote (``--seed``, ``parameter seed of 'egpo'``, …) so the message points at it.

    >>> validate_seed(3)
    3
    """
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < MAX_SEED:
        raise ValueError(f"{name} must be an integer in [0, 2**63); got {seed!r}")
    return int(seed)


def symmetrize(M) -> np.ndarray:
    """Project a matrix of raw pairwise scores onto ``{P : P + Pᵀ = 1}``: ``(M + 1 − Mᵀ) / 2`` (clipped to [0, 1])."""
    M = np.asarray(M, dtype=np.float64)
    return np.clip(0.5 * (M + 1.0 - np.swapaxes(M, -1, -2)), 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class PreferenceGame:
    """A (batch of) symmetric two-player preference game(s) with optional KL regularisation.

    The regularised game is ``J_β(π, μ) = πᵀPμ − β KL(π‖π_ref) + β KL(μ‖π_ref)``; β = 0 is the original game.

    Attributes:
        P: ``[..., n, n]`` float64, ``P[i, j] = Pr(y_i ≻ y_j)``, ``P + Pᵀ = 1`` within :data:`SKEW_TOL`.
        pi_ref: ``[..., n]`` (or ``[n]``, broadcast over the batch) reference policy, strictly positive; uniform if
            not given.
        beta: KL weight ``β ≥ 0``.
        name: a human-readable description (the generator spec, a file name …).

    Raises:
        ValueError: if ``P`` is not a preference matrix, ``pi_ref`` is not a full-support distribution of length
            ``n``, or ``beta`` is negative or not finite.

    >>> g = PreferenceGame([[0.5, 0.9], [0.1, 0.5]], beta=0.1)
    >>> g.n, g.batch_shape, float(g.pi_ref.sum())
    (2, (), 1.0)
    """

    P: np.ndarray
    pi_ref: np.ndarray | None = None
    beta: float = 0.0
    name: str = "custom"

    def __post_init__(self) -> None:
        P = validate_preference_matrix(self.P)
        n = P.shape[-1]
        if self.pi_ref is None:
            pi_ref = np.full(n, 1.0 / n)
        else:
            pi_ref = validate_policy(self.pi_ref, n, name="pi_ref")
            if (pi_ref <= 0).any():
                # KL(π‖π_ref) and π*_β ∝ π_ref·exp(Pπ/β) need full support; a zero would silently delete an action.
                idx = tuple(np.argwhere(pi_ref <= 0)[0])
                raise ValueError(f"pi_ref must have full support (all entries > 0); pi_ref{_fmt_index(idx)} = 0")
            try:
                np.broadcast_shapes(pi_ref.shape[:-1], P.shape[:-2])
            except ValueError:
                raise ValueError(
                    f"pi_ref batch shape {pi_ref.shape[:-1]} does not broadcast with P's batch shape {P.shape[:-2]}"
                ) from None
        beta = validate_beta(self.beta)
        P.setflags(write=False)
        pi_ref.setflags(write=False)
        object.__setattr__(self, "P", P)
        object.__setattr__(self, "pi_ref", pi_ref)
        object.__setattr__(self, "beta", beta)

    @property
    def n(self) -> int:
        """Number of actions."""
        return self.P.shape[-1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading axes of ``P`` (``()`` for a single game)."""
        return self.P.shape[:-2]

    @property
    def log_pi_ref(self) -> np.ndarray:
        """``log π_ref``, ``[..., n]``."""
        return np.log(self.pi_ref)

    def with_beta(self, beta: float) -> "PreferenceGame":
        """The same game with another KL weight."""
        return PreferenceGame(self.P, self.pi_ref, beta, self.name)

    def with_ref(self, pi_ref) -> "PreferenceGame":
        """The same game with another reference policy."""
        return PreferenceGame(self.P, pi_ref, self.beta, self.name)

    def __getitem__(self, idx) -> "PreferenceGame":
        """Index the batch axes: ``game[3]`` is the fourth game of a batch."""
        if not self.batch_shape:
            raise IndexError("a single game has no batch axis to index")
        ref = self.pi_ref if self.pi_ref.ndim == 1 else self.pi_ref[idx]
        return PreferenceGame(self.P[idx], ref, self.beta, f"{self.name}[{idx}]")

    def __repr__(self) -> str:
        return f"PreferenceGame(name={self.name!r}, n={self.n}, batch_shape={self.batch_shape}, beta={self.beta:g})"
