"""Reference equilibria computed independently of every solver, certified, for single games and batches.

* β = 0: :func:`exact_nash`, an interior-point method on the equilibrium's complementarity problem
  (:func:`nashlab.games.nash_scale.lcp_interior_point`) with the full LP (scipy HiGHS) and its rescue path as the
  fallback for any game the first answer does not certify.
* β > 0: :func:`regularized_nash`, Newton's method at the target β, with continuation in β as the fallback.

Every answer carries a :class:`Certificate` recomputed from ``P`` and the returned policy alone. These are the ground
truth the solvers are measured against, so no routine here runs an update rule under test.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.special import logsumexp, softmax

from .interruptible import call_interruptible
from .nash_scale import lcp_interior_point, newton_regularized
from .preference import PreferenceGame, validate_beta, validate_policy, validate_preference_matrix

#: An exact answer is certified when its best-response gap ``DG_0 = 2 max_y (Pπ)_y − 1`` is at most this.
CERT_GAP = 1e-9
#: A regularised answer is certified when its fixed-point residual is at most this.
CERT_RESIDUAL = 1e-10
#: Single games from this size on are solved in a child process that Ctrl-C can kill (one LAPACK call at n = 1,500
#: takes ~0.2–0.5 s on 2 cores and cannot be interrupted from Python; a child has no such delay).
INTERRUPTIBLE_N = 1500
#: The interior-point method on one game removes an action once ``w_y/z_y`` exceeds this (see
#: :func:`nashlab.games.nash_scale.lcp_interior_point`): up to 1.5× faster at n = 1,000; 1e3 removed a support action
#: of embedding:n=200,seed=2 and 1e2 of skew and hodge games at n = 1,000 (caught by certification, then re-solved).
_DROP_RATIO = 1e4
#: The same for a numpy batch (:func:`nashlab.games.nash_scale._ip_numpy_batch`), where a wrong removal costs one
#: game's re-solve (in the kernel, at a 100× higher threshold) rather than the call's: B = 256, n = 100, work per
#: game in units of one n × n LU, before re-solves: 6.8 -> 4.4 (skew), 6.9 -> 4.4 (egpo), 11.3 -> 9.9 (embedding),
#: with 5, 13 and 17 games re-solved; at 3e2 2, 3 and 5 games for 5.1, 5.2 and 10.4 units; at 30, 39-44 games.
_BATCH_DROP_RATIO = 1e2
#: Largest game :func:`exact_nash` accepts: the interior-point method costs ~20–30 dense n × n factorisations,
#: 9–10 s at n = 3,000 on 2 loaded cores (30 s for the slowest of 20 games), so ~6–20 minutes and 3 × n² × 8 bytes
#: (2.4 GB) at n = 10,000.
MAX_EXACT_N = 10_000
#: Measured seconds of :func:`exact_nash` at n = 3,000 on 2 loaded cores, the base of the estimate in the refusal.
_SECONDS_AT_3000 = 10.0


@dataclass(frozen=True)
class Certificate:
    """How good a reference equilibrium is, recomputed from ``P`` and the returned policy only.

    Attributes:
        duality_gap: ``[...]``: β = 0: ``DG_0(π) = 2 max_y (Pπ)_y − 1`` (certified when ≤ :data:`CERT_GAP`);
            β > 0: ``DG_β(π)`` (:func:`nashlab.games.reg_duality_gap`).
        residual: ``[...]``: β = 0: complementary slackness ``max_y π_y |(Pπ)_y − ½|`` (an equilibrium's support
            actions all win exactly half); β > 0: ``min_c ‖log π − log π_ref − Pπ/β + c‖_∞ = (max F − min F)/2`` with
            ``F = log π − log π_ref − Pπ/β`` (certified when ≤ :data:`CERT_RESIDUAL`).
        method: ``[...]`` strings naming what produced each answer, and the fallback taken when the first method's
            answer failed certification.
    """

    duality_gap: np.ndarray
    residual: np.ndarray
    method: np.ndarray

    def as_dict(self) -> dict:
        """JSON-ready: floats and strings for one game, nested lists for a batch."""

        def conv(x):
            arr = np.asarray(x)
            return arr.item() if arr.ndim == 0 else arr.tolist()

        return {"duality_gap": conv(self.duality_gap.astype(float)), "residual": conv(self.residual.astype(float)),
                "method": conv(self.method)}


def _as_game_arrays(game_or_P, pi_ref=None, beta=None):
    if isinstance(game_or_P, PreferenceGame):
        P = game_or_P.P
        ref = game_or_P.pi_ref if pi_ref is None else validate_policy(pi_ref, game_or_P.n)
        b = game_or_P.beta if beta is None else validate_beta(beta)
    else:
        P = validate_preference_matrix(game_or_P)
        n = P.shape[-1]
        ref = np.full(n, 1.0 / n) if pi_ref is None else validate_policy(pi_ref, n)
        b = 0.0 if beta is None else validate_beta(beta)
    return P, np.broadcast_to(ref, P.shape[:-1]), b


#: HiGHS attempts, in order: the dual simplex with tight tolerances (a vertex, fast on dense games), then interior
#: point with crossover, then both with default tolerances. Degenerate games (e.g. a rank-2 skew part at n = 300)
#: can end the first attempt with status "unknown"; the next one solves them.
_LP_ATTEMPTS = (
    ("highs", {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}),
    ("highs-ipm", {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}),
    ("highs-ds", {}),
    ("highs-ipm", {}),
)
#: An LP answer is accepted once its duality gap ``2 max_y (Pπ)_y − 1`` is at most this.
_LP_GAP_TOL = 1e-10
#: Rounds of column generation for games the full LP cannot solve to _LP_GAP_TOL.
_COLGEN_ROUNDS = 3
#: Above this gap after column generation (or with no LP point at all) the small-β regularised equilibrium is tried
#: (slow: tens of seconds at n = 300; it did not beat column generation on any game where both ran).
_FALLBACK_GAP = 1e-6
#: Beyond column generation, the best answer is returned with a RuntimeWarning when its gap is at most this.
_LP_ACCEPT_GAP = 1e-6


def _gap(P: np.ndarray, pi: np.ndarray) -> float:
    """``DG_0(π) = 2 max_y (Pπ)(y) − 1`` for a symmetric game (``P + Pᵀ = 1``), the criterion every candidate is
    compared on."""
    return 2.0 * float((P @ pi).max()) - 1.0


def _max_lottery_single(P: np.ndarray) -> np.ndarray:
    n = P.shape[0]
    # min_{π ∈ Δ} max_y ((P − ½)π)_y, whose value is 0 (the game is symmetric and P + Pᵀ = 1).
    # Variables x = (π_1..π_n, v): minimise v subject to (P − ½)π − v ≤ 0, Σπ = 1, π ≥ 0. The skew form P − ½
    # (rather than P, value ½) is what HiGHS solves on near-degenerate games where the P form ends "unknown".
    c = np.zeros(n + 1)
    c[-1] = 1.0
    A_ub = np.hstack([P - 0.5, -np.ones((n, 1))])
    A_eq = np.concatenate([np.ones(n), [0.0]])[None, :]
    best, best_gap, messages = None, np.inf, []
    for method, options in _LP_ATTEMPTS:
        res = linprog(
            c, A_ub=A_ub, b_ub=np.zeros(n), A_eq=A_eq, b_eq=[1.0], bounds=[(0, None)] * n + [(None, None)],
            method=method, options=options,
        )
        if res.x is None:
            messages.append(f"{method}: {res.message}")
            continue
        pi = np.clip(res.x[:n], 0.0, None)
        if not pi.sum() > 0:
            messages.append(f"{method}: returned a zero vector")
            continue
        pi = _polish_support(P, pi / pi.sum())
        gap = _gap(P, pi)
        if gap < best_gap:
            best, best_gap = pi, gap
        if best_gap <= _LP_GAP_TOL:
            return best
        messages.append(f"{method}: status {res.status}, gap {gap:.1e}")
    if best is None:
        # HiGHS found no point at all (status 4 on some rank-2 disc games, n = 300): refine the regularised
        # equilibrium (DG_0 ≤ 2β log n) instead, with β lowered until the refinement takes (from β = 1e-5 on the
        # games seen; from 1e-3 it can stall).
        for beta in (1e-4, 1e-5, 1e-6):
            try:
                cand = _refine_lp(P, regularized_nash(P, beta=beta))
            except RuntimeError:
                break
            gap = _gap(P, cand)
            if gap < best_gap:
                best, best_gap = cand, gap
            if best_gap <= _LP_GAP_TOL:
                return best
    elif best_gap > _LP_GAP_TOL:
        best = _refine_lp(P, best)
        best_gap = _gap(P, best)
        if best_gap <= _LP_GAP_TOL:
            return best
    if best is not None and best_gap > _LP_GAP_TOL:
        # Near-degenerate games (hundreds of actions within 1e-8 of being best responses, e.g. sigmoids of rank-2
        # skew forms such as embedding:dim=2 at n ≥ 200) defeat HiGHS's tolerances. Column generation from the best
        # answer: re-solve on its support plus every action that beats it (all n rows); smaller LPs are more accurate.
        S = np.flatnonzero(best > 0)
        for _ in range(_COLGEN_ROUNDS):
            S = np.union1d(S, np.flatnonzero(P @ best > 0.5))
            pi = _restricted_lp(P, S)
            if pi is None:
                break
            gap = _gap(P, pi)
            if gap < best_gap:
                best, best_gap = pi, gap
            if best_gap <= _LP_GAP_TOL:
                return best
    if best is None or best_gap > _FALLBACK_GAP:
        # Last resort when HiGHS returns no point or a poor one: the regularised equilibrium at β = MIN_BETA (Newton,
        # robust where the LP is not), whose gap is at most 2β log n (≈ 1.4e-7 at n = 1,000; ~1e-8 measured).
        pi = _tiny_beta_candidate(P)
        if pi is not None:
            gap = _gap(P, pi)
            if gap < best_gap:
                best, best_gap = pi, gap
        else:
            messages.append("regularised fallback: Newton failed")
    if best is not None and best_gap <= 1e-9:
        return best
    if best is not None and best_gap <= _LP_ACCEPT_GAP:
        warnings.warn(
            f"exact_nash: near-degenerate game (n = {n}); the LP reached DG_0 = {best_gap:.1e} only (target 1e-9)",
            RuntimeWarning,
            stacklevel=3,
        )
        return best
    raise RuntimeError(  # pragma: no cover - not seen on any test or held-out game; fail loudly, never silently
        f"HiGHS could not solve the maximal-lottery LP to a gap ≤ {_LP_ACCEPT_GAP:g}: " + "; ".join(messages)
    )


def _tiny_beta_candidate(P: np.ndarray):
    """``π*_β`` at β = MIN_BETA, polished on its support: ``DG_0(π*_β) ≤ 2β log n`` (uniform π_ref), a last resort."""
    try:
        pi = regularized_nash(P, beta=MIN_BETA)
    except RuntimeError:
        return None
    return _polish_support(P, pi)


def _refine_lp(P: np.ndarray, pi: np.ndarray, rounds: int = 6) -> np.ndarray:
    """Iterative refinement of an approximate maximal lottery by rescaled correction LPs.

    With residual ``r = (P − ½)π`` and ``ε = max_y r_y`` (the current DG_0 / 2), solve for a correction ``π + ε·d``:
    ``min w  s.t. (P − ½)d − w ≤ −r/ε,  Σd = 0,  d ≥ −π/ε``. The correction problem is the original LP written in
    units of ε, so HiGHS's absolute tolerances (~1e-10) now act relative to ε and each round gains several digits
    (rank-2 disc games at n = 300: 1.4e-7 → 2.7e-12 in one round). Rounds stop when the gap stops improving.
    """
    n = P.shape[0]
    A = P - 0.5
    c = np.zeros(n + 1)
    c[-1] = 1.0
    A_ub = np.hstack([A, -np.ones((n, 1))])
    A_eq = np.concatenate([np.ones(n), [0.0]])[None, :]
    for _ in range(rounds):
        r = A @ pi
        eps = float(r.max())
        if eps <= 1e-13:
            break
        res = None
        for method, options in _LP_ATTEMPTS:
            res = linprog(c, A_ub=A_ub, b_ub=-r / eps, A_eq=A_eq, b_eq=[0.0],
                          bounds=[(-p / eps, None) for p in pi] + [(None, None)], method=method, options=options)
            if res.x is not None:
                break
        if res is None or res.x is None:
            break
        cand = np.clip(pi + eps * res.x[:n], 0.0, None)
        if not cand.sum() > 0:
            break
        cand = _polish_support(P, cand / cand.sum())
        if not float((A @ cand).max()) < 0.5 * eps:
            break
        pi = cand
    return pi


def _restricted_lp(P: np.ndarray, S: np.ndarray):
    """``min_{π ∈ Δ, supp π ⊆ S} max_y (Pπ)_y`` over all n rows; ``None`` if HiGHS returns no point."""
    n, k = P.shape[0], S.size
    c = np.zeros(k + 1)
    c[-1] = 1.0
    for method, options in _LP_ATTEMPTS:
        res = linprog(
            c, A_ub=np.hstack([P[:, S] - 0.5, -np.ones((n, 1))]), b_ub=np.zeros(n),
            A_eq=np.concatenate([np.ones(k), [0.0]])[None, :], b_eq=[1.0], bounds=[(0, None)] * k + [(None, None)],
            method=method, options=options,
        )
        if res.x is not None and res.x[:k].clip(0).sum() > 0:
            pi = np.zeros(n)
            pi[S] = np.clip(res.x[:k], 0.0, None)
            return _polish_support(P, pi / pi.sum())
    return None


def _polish_support(P: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """Refine an LP vertex to machine precision by solving its support's equalities ``(Pπ)_S = ½, Σπ_S = 1``.

    HiGHS stops at a feasibility tolerance of ~1e-10; on the support the equilibrium satisfies a linear system
    exactly, so a least-squares solve recovers the last digits. The polished point is kept only if it is a valid
    distribution with a gap no larger than the LP's.
    """
    support = np.flatnonzero(pi > 1e-9)
    A = np.vstack([P[np.ix_(support, support)] - 0.5, np.ones((1, support.size))])
    b = np.concatenate([np.zeros(support.size), [1.0]])
    sol, *_ = np.linalg.lstsq(A, b, rcond=None)
    if (sol < 0).any():
        return pi
    cand = np.zeros_like(pi)
    cand[support] = sol
    cand /= cand.sum()
    return cand if (P @ cand).max() <= (P @ pi).max() else pi


def _idle_cores() -> int:
    """Cores this process may use that no other task is running on now (at least 1).

    Linux: the usable cores minus the other runnable tasks counted in ``/proc/loadavg`` at this moment (its fourth
    field, which counts the calling thread too). The 1-minute load average, used elsewhere, lags by tens of seconds and
    counts this process's own work as load: a benchmark alone on 2 cores read 1 idle core."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            others = int(f.read().split()[3].split("/")[0]) - 1
    except (OSError, ValueError, IndexError):
        try:
            others = os.getloadavg()[0]
        except (OSError, AttributeError):  # pragma: no cover - no load average on this platform
            return n
    return max(1, min(n, int(n - others + 0.5)))


@contextlib.contextmanager
def _blas_threads(limit: int):
    """Limit BLAS/LAPACK threads to ``limit`` while the kernels factorise.

    A multi-threaded LU on cores that other processes hold waits on its descheduled threads: measured at n = 1,000
    on 2 cores at load average 3.5, the interior-point method took 3–5 s with OpenBLAS's 2 threads and 0.4 s with one
    (HiGHS is single-threaded and unaffected). Needs ``threadpoolctl``; without it the BLAS default is kept.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=limit, user_api="blas"):
        yield


def _on_device(kernel, device, *arrays):
    """Run a :mod:`nash_scale` kernel ``kernel(*arrays, threads=…)`` on numpy arrays, or on torch float64 tensors on
    ``device``; numpy out.

    On CPU the idle cores (:func:`_idle_cores`) go to the games of a batch, each factored on one BLAS thread by its
    own worker thread (parallel small LUs: 1.8× on 2 idle cores at n = 100), and to BLAS for a single game (one
    large LU)."""
    if device is None:
        cores = _idle_cores()
        batch = arrays[0].shape[0] > 1
        with _blas_threads(1 if batch else cores):
            return kernel(*arrays, threads=cores if batch else 1)
    import torch

    out = kernel(*(torch.as_tensor(a, dtype=torch.float64, device=device) for a in arrays), threads=1)
    return tuple(o.cpu().numpy() if isinstance(o, torch.Tensor) else o for o in out)


def _exact_certified(flat, device=None):
    """Equilibria of a stack ``[B, n, n]`` with their certificate arrays: the interior-point answer where it
    certifies, the full LP (:func:`_max_lottery_single`, with its rescue path) where it does not."""
    def solve(drop_ratio):
        pi, _ = _on_device(lambda P, threads: lcp_interior_point(P, drop_ratio=drop_ratio, threads=threads),
                           device, flat)
        pi = np.clip(pi, 0.0, None)
        pi /= pi.sum(-1, keepdims=True)
        return pi, 2.0 * np.einsum("bij,bj->bi", flat, pi).max(-1) - 1.0

    pi, gap = solve(_DROP_RATIO if flat.shape[0] == 1 or device is not None else _BATCH_DROP_RATIO)
    method = np.full(flat.shape[0], "interior point", dtype=object)
    if flat.shape[0] == 1 and device is None and not gap[0] <= CERT_GAP:  # removal was used: retry without it
        pi, gap = solve(None)
        method[0] = "interior point (again without removing actions)"
    for b in np.flatnonzero(~(gap <= CERT_GAP)):
        pi[b] = _max_lottery_single(flat[b])
        method[b] = f"full LP (HiGHS): the interior point's answer had DG_0 = {gap[b]:.1e} > {CERT_GAP:g}"
    g = np.einsum("bij,bj->bi", flat, pi)
    return pi, 2.0 * g.max(-1) - 1.0, (pi * np.abs(g - 0.5)).max(-1), method


def exact_nash(game_or_P, *, return_certificate: bool = False, device=None):
    """A Nash equilibrium (maximal lottery) of the original game, certified: ``DG_0 = 2 max_y (Pπ)_y − 1 ≤ 1e-9``.

    The equilibria are the ``π ∈ Δ`` with ``Pπ ≤ ½`` (the game is symmetric, ``πᵀPπ = ½``). Method:

    1. an interior-point method on the equivalent monotone complementarity problem (``z ≥ 0``, ``(1.5 − P)z ≥ 1``,
       ``zᵀ((1.5 − P)z − 1) = 0``; :func:`nashlab.games.nash_scale.lcp_interior_point`), batched over games, whose
       support guess is polished by one linear solve to ~1e-15; ~20–30 dense factorisations, against thousands of
       simplex pivots (n = 1,000: ~1 s where scipy's HiGHS simplex takes ~20 s);
    2. certification of every answer from ``P`` and ``π`` alone: ``DG_0(π) ≤`` :data:`CERT_GAP`;
    3. where that fails, the full LP ``min_{π ∈ Δ} max_y ((P − ½)π)_y`` by HiGHS with its rescue path for
       near-degenerate games (other HiGHS methods, rescaled correction LPs :func:`_refine_lp`, column generation,
       ``π*_β`` at β = 1e-8), named in the certificate's ``method``. The LP's answer has ``DG_0 ≤ 1e-9``, or
       ``≤ 1e-6`` with a ``RuntimeWarning``, else ``RuntimeError``.

    When the equilibrium is not unique (e.g. even cyclic tournaments) one point of the equilibrium set is returned.
    A single game with n ≥ :data:`INTERRUPTIBLE_N` is solved in a child process, so Ctrl-C stops it at once; games
    above :data:`MAX_EXACT_N` actions are refused (``ValueError``) with the expected time.

    Args:
        game_or_P: a :class:`PreferenceGame` or a matrix ``[..., n, n]`` (validated).
        return_certificate: also return the :class:`Certificate`.
        device: run the interior-point kernel in torch float64 on this device (e.g. ``"cuda"``) instead of numpy;
            certification and any fallback stay on the CPU.

    Returns:
        ``[..., n]`` float64 distributions (one per game in the batch), and the certificate if asked.

    >>> exact_nash([[0.5, 0.8], [0.2, 0.5]]).round(12).tolist()
    [1.0, 0.0]
    """
    P, _, _ = _as_game_arrays(game_or_P)
    n = P.shape[-1]
    if n > MAX_EXACT_N:
        minutes = _SECONDS_AT_3000 * (n / 3000) ** 3 / 60
        raise ValueError(
            f"exact_nash: n = {n} actions is above the limit of {MAX_EXACT_N:,} (the solver is O(n³) per step: "
            f"about {minutes:,.0f} minutes and {3 * n * n * 8 / 2**30:.0f} GiB here); use a smaller game"
        )
    flat = P.reshape(-1, n, n)
    if flat.shape[0] == 1 and n >= INTERRUPTIBLE_N and device is None:
        pi, gap, res, method = call_interruptible(_exact_certified, flat)
    else:
        pi, gap, res, method = _exact_certified(flat, device)
    pi = pi.reshape(P.shape[:-1])
    if not return_certificate:
        return pi
    shape = P.shape[:-2]
    return pi, Certificate(gap.reshape(shape), res.reshape(shape), method.reshape(shape))


def _fixed_point_residual(P, log_pi_ref, log_pi, beta):
    """``F(ℓ) = ℓ − ℓ_ref − Pπ/β`` centred (the fixed point holds up to an additive constant)."""
    F = log_pi - log_pi_ref - P @ np.exp(log_pi) / beta
    return F - F.mean()


#: Newton stops once its step moves no logit by more than this: ``KL(π*‖π) ≈ ½ Var_π(δℓ) ≤ ½‖δℓ‖∞²`` is then below
#: 1e-26. (A residual tolerance alone cannot be met at n = 1,000, β = 1e-3: ``Pπ/β`` is ~1e3 and its rounding error
#: ~1e-13 is the floor of ``‖F‖``; waiting for 1e-14 made every line search fail and cost ~20 s per solve.)
_STEP_TOL = 1e-13
#: A solve whose line search stalls is accepted as converged when its residual is already at the floating-point
#: floor: ``max(_FLOOR_TOL, _FLOOR_REL·√n/β)``, since ``Pπ/β`` (entries up to 1/β) is only known to ~1e-16 relative
#: (``‖δℓ‖ ≲ ‖F‖`` as ``J`` has eigenvalues ``1 − iλ/β`` of modulus ≥ 1, so at β ≥ 1e-3 KL ≲ 1e-18).
_FLOOR_TOL = 1e-9
_FLOOR_REL = 1e-14
#: Smallest β the solver accepts: below it the logits ``Pπ/β`` span more than 1e8 and lose all but ~8 digits, so the
#: fixed point cannot be resolved in float64 (use :func:`exact_nash`, the β → 0 limit's game, instead).
MIN_BETA = 1e-8


def _newton_single(P, log_pi_ref, beta, log_pi0, *, tol=1e-13, max_iter=100):
    """Damped Newton on ``ℓ = ℓ_ref + Pπ/β − log Z``, ``π = softmax(ℓ)``.

    Jacobian ``J = I − (1/β) P (diag π − ππᵀ)``. With ``A = P − ½`` skew-symmetric and ``(diag π − ππᵀ)1 = 0``,
    ``P D = A D`` whose eigenvalues are imaginary (``AD`` is similar to ``D^½ A D^½``), so ``J`` has eigenvalues
    ``1 − iλ/β`` and is never singular. Steps are backtracked on ``‖F‖`` (Newton's direction descends ``‖F‖²``).

    Stops when ``‖F‖ ≤ tol``, when a full step moves no logit by more than :data:`_STEP_TOL`, or when the line search
    stalls at the floating-point floor (``‖F‖ ≤ max(_FLOOR_TOL, _FLOOR_REL·√n/β)``).

    Returns:
        ``(log_pi, ‖F‖, converged)``.
    """
    n = P.shape[0]
    log_pi = log_pi0 - logsumexp(log_pi0)
    F = _fixed_point_residual(P, log_pi_ref, log_pi, beta)
    fnorm = np.linalg.norm(F)
    eye = np.eye(n)
    floor = max(_FLOOR_TOL, _FLOOR_REL * np.sqrt(n) / beta)
    for _ in range(max_iter):
        if fnorm <= tol:
            return log_pi, fnorm, True
        pi = np.exp(log_pi)
        # P (diag π − ππᵀ) = P·diag(π) − (Pπ)πᵀ: O(n²) instead of a dense O(n³) product.
        PD = P * pi[None, :] - np.outer(P @ pi, pi)
        step = np.linalg.solve(eye - PD / beta, -F)
        # F is centred (ℓ is defined up to a constant). J·1 = 1, so J is the Jacobian of the uncentred residual and
        # solving J s = −F zeroes the centred residual to first order; the constant in s is removed by normalising.
        step -= step.mean()
        small = float(np.abs(step).max()) <= _STEP_TOL
        t = 1.0
        while True:
            cand = log_pi + t * step
            cand -= logsumexp(cand)
            F_c = _fixed_point_residual(P, log_pi_ref, cand, beta)
            fn_c = np.linalg.norm(F_c)
            if fn_c < fnorm * (1 - 1e-4 * t) or t < 1e-6 or small:
                break
            t *= 0.5
        if small:
            return cand, fn_c, True
        if not fn_c < fnorm:  # the line search stalled
            return log_pi, fnorm, fnorm <= floor
        log_pi, F, fnorm = cand, F_c, fn_c
    return log_pi, fnorm, fnorm <= floor


def _reg_nash_single(P, pi_ref, beta, tol):
    log_pi_ref = np.log(pi_ref)
    # Continuation in β: at large β the answer is close to π_ref and Newton converges from there; each solution warm-
    # starts the next β. The schedule divides β by 4 until the target, which keeps every Newton solve in its basin;
    # a solve that fails is retried from the last good point with a finer schedule (factor 2^(1/4)).
    betas = [beta]
    while betas[-1] < 1.0:
        betas.append(betas[-1] * 4.0)
    log_pi = log_pi_ref.copy()
    prev = None
    for b in reversed(betas):
        log_pi_new, fnorm, ok = _newton_single(P, log_pi_ref, b, log_pi, tol=tol)
        if not ok and prev is not None:
            log_pi_new = log_pi
            for bb in np.geomspace(prev, b, 9)[1:]:
                log_pi_new, fnorm, ok = _newton_single(P, log_pi_ref, bb, log_pi_new, tol=tol)
        log_pi, prev = log_pi_new, b
    if not ok:  # pragma: no cover - not seen on any generator; kept to fail loudly rather than silently
        raise RuntimeError(f"regularised Nash solve did not converge (residual {fnorm:.2e}, beta={beta:g})")
    return softmax(log_pi), log_pi - logsumexp(log_pi)


#: Newton at the target β is tried first from this β up (measured: 3 steps at β = 0.1, 5–9 at 0.01, n = 1,000);
#: below it, or when it does not converge within its step budget, continuation in β (:func:`_reg_nash_single`).
_DIRECT_MIN_BETA = 1e-3


def _reg_certified(flatP, flatR, beta, tol, device=None):
    """``(π, log π, DG_β, residual, method)`` for a stack: Newton at the target β (batched), continuation in β for
    the games where it does not converge."""
    from .metrics import reg_duality_gap

    log_ref = np.log(flatR)
    B = flatP.shape[0]
    method = np.full(B, "newton", dtype=object)
    if beta >= _DIRECT_MIN_BETA:
        log_pi, _, conv = _on_device(
            lambda P, lr, threads: newton_regularized(P, lr, beta, tol=tol, step_tol=_STEP_TOL, threads=threads),
            device, flatP, log_ref)
        log_pi = log_pi - logsumexp(log_pi, axis=-1, keepdims=True)
    else:
        log_pi, conv = np.empty_like(log_ref), np.zeros(B, bool)
    for b in np.flatnonzero(~conv):
        _, log_pi[b] = _reg_nash_single(flatP[b], flatR[b], beta, tol)
        method[b] = "newton with continuation in beta" if beta >= _DIRECT_MIN_BETA else "newton, continuation in beta"
    pi = np.exp(log_pi)
    pi /= pi.sum(-1, keepdims=True)
    F = log_pi - log_ref - np.einsum("bij,bj->bi", flatP, pi) / beta
    residual = (F.max(-1) - F.min(-1)) / 2.0
    return pi, log_pi, np.asarray(reg_duality_gap(flatP, pi, flatR, beta)).reshape(B), residual, method


def regularized_nash(game_or_P, pi_ref=None, beta=None, *, tol: float = 1e-13, return_log: bool = False,
                     return_certificate: bool = False, device=None):
    """The regularised Nash equilibrium ``π*_β``: the unique fixed point of ``π ∝ π_ref · exp(Pπ / β)``.

    Solved directly rather than by running any update rule, so solvers can be measured against it: damped Newton on
    ``F(ℓ) = ℓ − ℓ_ref − Pπ/β − c`` (``π = softmax ℓ``) at the target β from ``π_ref``, batched over games
    (:func:`nashlab.games.nash_scale.newton_regularized`: 3 dense solves at n = 1,000, β = 0.1; 5–9 at β = 0.01);
    below β = 1e-3, or for a game where that does not converge, Newton with continuation in β
    (:func:`_reg_nash_single`), named in the certificate's ``method``. The residual ``‖F‖`` is driven below ``tol``
    (1e-13) or to its floating-point floor (~1e-12 at n = 1,000, β = 1e-3), which puts ``KL(π*_β‖π)`` below 1e-18;
    the certificate reports ``min_c ‖log π − log π_ref − Pπ/β + c‖_∞`` (≤ :data:`CERT_RESIDUAL` = 1e-10 at
    β ≥ 1e-3, n ≤ 3,000) and ``DG_β``. Checked in ``tests/games/test_nash.py``: the fixed point and ``DG_β ≤ 1e-10``
    over every generator (n ≤ 1,000, β ≥ 1e-3), ``KL ≤ 1e-10`` against MINPACK's hybr on π-space (β ∈ {1, 0.1,
    0.01, 0.001}, n ≤ 100) and against the plain fixed-point iteration at n = 1,000. A single game with
    n ≥ :data:`INTERRUPTIBLE_N` is solved in a child process that Ctrl-C kills.

    Args:
        game_or_P: a :class:`PreferenceGame` (its ``pi_ref`` and ``beta`` are the defaults) or a matrix ``[..., n, n]``.
        pi_ref: ``[..., n]`` or ``[n]``; overrides the game's.
        beta: ``β > 0``; overrides the game's.
        tol: residual tolerance.
        return_log: also return ``log π*_β``.
        return_certificate: also return the :class:`Certificate` (last).
        device: run Newton at the target β in torch float64 on this device (e.g. ``"cuda"``); certification and the
            continuation fallback stay on the CPU.

    Returns:
        ``[..., n]`` float64 distributions (then their logs if ``return_log``, then the certificate if asked).

    Raises:
        ValueError: if ``β`` is not a finite number ≥ :data:`MIN_BETA` = 1e-8 (use :func:`exact_nash` for β = 0).
        RuntimeError: if Newton fails to converge (never seen on any generator for 1e-6 ≤ β, n ≤ 1,000).

    >>> import numpy as np
    >>> regularized_nash(np.full((3, 3), 0.5), beta=0.1).round(12).tolist()
    [0.333333333333, 0.333333333333, 0.333333333333]
    """
    P, ref, b = _as_game_arrays(game_or_P, pi_ref, beta)
    if not b > 0:
        raise ValueError(f"regularized_nash needs beta > 0 (use exact_nash for the original game); got {b!r}")
    if not b >= MIN_BETA:
        raise ValueError(
            f"regularized_nash needs beta ≥ {MIN_BETA:g} (below it Pπ/β cannot be resolved in float64; use beta = 0 "
            f"for the exact equilibrium); got {b!r}"
        )
    n = P.shape[-1]
    flatP = P.reshape(-1, n, n)
    flatR = np.ascontiguousarray(ref).reshape(-1, n)
    if flatP.shape[0] == 1 and n >= INTERRUPTIBLE_N and device is None:
        pi, log_pi, gap, res, method = call_interruptible(_reg_certified, flatP, flatR, b, tol)
    else:
        pi, log_pi, gap, res, method = _reg_certified(flatP, flatR, b, tol, device)
    shape = P.shape[:-1]
    out = [pi.reshape(shape)]
    if return_log:
        out.append(log_pi.reshape(shape))
    if return_certificate:
        out.append(Certificate(gap.reshape(shape[:-1]), res.reshape(shape[:-1]), method.reshape(shape[:-1])))
    return out[0] if len(out) == 1 else tuple(out)
