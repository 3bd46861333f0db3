"""Batched kernels for reference equilibria at scale: an interior-point method for the exact equilibrium and Newton's
method at the target β for the regularised one.

Both run on stacks of games ``P [B, n, n]`` with numpy (CPU) or torch (CPU or CUDA) arrays: the same code, through the
few operations where the two libraries differ (:class:`_Ops`). Neither certifies anything: :mod:`nashlab.games.nash`
recomputes the gaps of what they return from ``P`` and the policy alone, and falls back to its LP or to Newton with
continuation in β where the kernel's answer does not pass.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

#: The interior point starts from ``z = 1/n``, ``w = _W0`` (infeasible, ``μ = _W0/n``). Measured against ``w = 1``
#: (B = 256, n = 100; n = 200 and 1,000 one game each, seed 1): factorisations per game 9.0 -> 6.9 (skew), 14.2 -> 11.5
#: (embedding), 9.1 -> 7.0 (egpo); at n = 1,000 iterations 17 -> 15 (skew), 29 -> 27 (embedding), 17 -> 12 (hodge),
#: 18 -> 17 (egpo). (A feasible start ``z = c/n``, ``w = Mz − 1`` and polishing every new support guess did not help.)
_W0 = 0.03


class _Ops:
    """The operations numpy and torch spell differently, for arrays of either kind."""

    def __init__(self, like):
        self.torch = type(like).__module__.startswith("torch")
        if self.torch:
            import torch

            self.xp = torch
        else:
            self.xp = np

    def amax(self, x):
        return x.amax(-1) if self.torch else x.max(-1)

    def amin(self, x):
        return x.amin(-1) if self.torch else x.min(-1)

    def clamp_min(self, x, lo):
        return x.clamp_min(lo) if self.torch else np.maximum(x, lo)

    def mv(self, A, x):
        """``A x`` per game (numpy's einsum measured 1.7x faster than its stacked matmul at B = 256, n = 100)."""
        return (A @ x[..., None])[..., 0] if self.torch else np.einsum("bij,bj->bi", A, x)

    def diagonal(self, K):
        """A writable view of the diagonals of a C-contiguous stack ``K [B, m, m]``."""
        if self.torch:
            return K.diagonal(dim1=-2, dim2=-1)
        return K.reshape(K.shape[0], -1)[:, :: K.shape[-1] + 1]

    # On CPU a Python loop of LAPACK's getrf/getrs over the batch, called directly, is the fastest measured: factor
    # and solve of 256 systems of n = 100 in 18 ms (one BLAS thread), against 24-27 ms through scipy's lu_factor /
    # lu_solve wrappers (their checks cost as much as the LU at this size) and 17 ms for numpy's batched solve,
    # which would have to factor twice per interior-point iteration. ``K[b].T`` is Fortran-ordered ``K[b]ᵀ``: getrf
    # factors it in place without a copy and getrs with ``trans=1`` solves ``K[b] x = rhs``.
    def factor(self, K):
        """A solver for ``K x = b`` (batched) that factors ``K`` once (``K``, C-contiguous, is overwritten)."""
        if self.torch:
            LU, piv = self.xp.linalg.lu_factor(K)
            return lambda b: self.xp.linalg.lu_solve(LU, piv, b[..., None])[..., 0]
        from scipy.linalg.lapack import dgetrf, dgetrs

        lus = [dgetrf(k.T, overwrite_a=1)[:2] for k in np.ascontiguousarray(K)]

        def solve(b):
            out = np.empty(b.shape)
            for i, (lu, piv) in enumerate(lus):
                out[i] = dgetrs(lu, piv, b[i], trans=1)[0]
            return out

        return solve

    @staticmethod
    def factor_kept(P, d, keep):
        """numpy only: a solver for ``(1.5 − P + diag d) x = b`` restricted, per game, to its kept actions
        (``keep [B, n]`` boolean): game ``b`` factors the ``|k| × |k|`` system of ``k = keep[b]`` only, and the solution
        is zero off ``k`` (entries of ``d`` and of ``b`` off ``k`` are never read, NaN included)."""
        from scipy.linalg.lapack import dgetrf, dgetrs

        lus = []
        for b in range(P.shape[0]):
            kb = keep[b]
            if kb.all():
                idx, K, db = None, 1.5 - P[b], d[b]
            else:
                idx = np.flatnonzero(kb)
                K, db = 1.5 - P[b][np.ix_(idx, idx)], d[b, idx]
            K.reshape(-1)[:: K.shape[0] + 1] += db
            lus.append((idx,) + dgetrf(K.T, overwrite_a=1)[:2])

        def solve(rhs):
            out = np.zeros(rhs.shape)
            for b, (idx, lu, piv) in enumerate(lus):
                if idx is None:
                    out[b] = dgetrs(lu, piv, rhs[b], trans=1)[0]
                else:
                    out[b, idx] = dgetrs(lu, piv, rhs[b, idx], trans=1)[0]
            return out

        return solve

    def solve(self, K, b):
        """``K⁻¹ b`` per game (``K`` is overwritten)."""
        if self.torch:
            return self.xp.linalg.solve(K, b[..., None])[..., 0]
        return self.factor(K)(b)


def _quiet(fn):
    """Silence scipy's ill-conditioning warnings: near the solution the systems are ill-conditioned by design
    (entries ``w/z`` from 1e-12 to 1e12), and every answer is certified afterwards from ``P`` and ``π`` alone."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from scipy.linalg import LinAlgWarning

        # 0/0 in a rejected candidate (e.g. a singular polish) is expected too: candidates are compared by their gap.
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", LinAlgWarning)
            return fn(*args, **kwargs)

    return wrapper


#: A per-game LAPACK loop is split over threads only when every thread gets at least this many games (a thread's
#: hand-off costs ~0.1 ms, a 100 × 100 factorisation ~0.04 ms).
_GAMES_PER_THREAD = 16


@contextlib.contextmanager
def _game_threads(threads: int):
    """A ``run(fn, items)`` that calls ``fn(chunk)`` on contiguous chunks of ``items``, one per thread of a pool of
    ``threads`` (the calling thread runs the first chunk), and returns when all are done; with ``threads ≤ 1`` it
    calls ``fn(items)`` once. scipy's LAPACK wrappers (getrf, getrs) release the GIL, so the per-game factorisations
    of a numpy batch run in parallel: 256 float32 LUs of n = 100 took 10.0 ms on one thread and 5.5 ms on two
    (2 idle cores). The pool lives for one kernel call, so nothing outlives it."""
    if threads <= 1:
        yield lambda fn, items: fn(items)
        return
    with ThreadPoolExecutor(threads - 1, thread_name_prefix="nashlab-games") as pool:
        def run(fn, items):
            k = min(threads, len(items) // _GAMES_PER_THREAD)
            if k <= 1:
                fn(items)
                return
            bounds = [len(items) * j // k for j in range(k + 1)]
            futures = [pool.submit(fn, items[bounds[j]:bounds[j + 1]]) for j in range(1, k)]
            fn(items[bounds[0]:bounds[1]])
            for f in futures:
                f.result()

        yield run


def _to_boundary(x, dx, ops):
    """Largest ``α ≤ 1`` with ``x + α dx ≥ 0`` per game (``x > 0``)."""
    ratio = ops.xp.where(dx < 0, -x / ops.xp.where(dx < 0, dx, -1.0), ops.xp.ones_like(x) * 2.0)
    return ops.amin(ratio).clip(max=1.0) if not ops.torch else ops.amin(ratio).clamp_max(1.0)


def _to_boundary_np(x, dx):
    """:func:`_to_boundary` for numpy arrays ``x ≥ 0`` in fewer passes: ``min(1, min_{dx_y < 0} −x_y/dx_y)`` per game
    (entries with ``dx_y ≥ 0``, the zeros off a batch's kept actions included, do not bound the step)."""
    return np.where(dx < 0, x / -dx, np.inf).min(-1).clip(max=1.0)  # the kernel runs under _quiet's errstate


def support_polish(P, S, ops):
    """Solve the equilibrium's equalities on a guessed support ``S`` (boolean ``[B, n]``): ``(M z)_S = 1``, ``z_¬S = 0``
    with ``M = 1.5 − P``, i.e. ``(Pπ)_S = ½`` and ``Σπ = 1`` (the two hold together at a solution, see
    :func:`lcp_interior_point`). numpy solves each game's ``|S| × |S|`` system; torch keeps one dense solve by
    putting the identity in the rows and columns off ``S``. Returns ``z [B, n]``, NaN rows where a system is singular
    (e.g. a game with a set of equilibria)."""
    xp = ops.xp
    if not ops.torch:
        from scipy.linalg.lapack import dgesv

        out = np.zeros_like(P[..., 0])
        for b in range(P.shape[0]):
            s = np.flatnonzero(S[b])
            if s.size == 0:
                out[b] = np.nan
                continue
            # LAPACK's gesv directly: scipy.linalg.solve's checks cost more than the solve at this size.
            K = np.asfortranarray(1.5 - P[b][s[:, None], s])
            _, _, x, info = dgesv(K, np.ones(s.size), overwrite_a=1, overwrite_b=1)
            out[b, s] = x if info == 0 else np.nan
        return out
    M = 1.5 - P
    both = S[..., :, None] & S[..., None, :]
    K = xp.where(both, M, xp.zeros_like(M))
    idx = xp.arange(P.shape[-1])
    K[..., idx, idx] = xp.where(S, K[..., idx, idx], xp.ones_like(K[..., idx, idx]))
    rhs = S.to(P.dtype) if ops.torch else S.astype(P.dtype)
    try:
        return xp.linalg.solve(K, rhs[..., None])[..., 0]
    except (np.linalg.LinAlgError, RuntimeError):  # torch raises RuntimeError (_LinAlgError) for a singular system
        out = xp.full_like(rhs, float("nan"))
        for b in range(K.shape[0]):
            try:
                out[b] = xp.linalg.solve(K[b], rhs[b])
            except (np.linalg.LinAlgError, RuntimeError):
                pass
        return out


def _keep_better(P: np.ndarray, best: np.ndarray, best_gap: np.ndarray, again: np.ndarray, pi2: np.ndarray) -> None:
    """Where the re-solved games ``again`` (answers ``pi2``) have a smaller gap ``DG_0 = 2 max_y (Pπ)_y − 1`` than
    ``best_gap``, take their answer into ``best`` (in place)."""
    g2 = 2.0 * (np.einsum("bij,bj->bi", P[again], pi2)).max(-1) - 1.0
    better = g2 < best_gap[again]
    best[again[better]] = pi2[better]


@_quiet
def lcp_interior_point(P, *, max_iter: int = 80, polish_below: float = 1e-5, accept_gap: float = 1e-12,
                       drop_ratio: float | None = None, retry_gap: float = 1e-9, threads: int = 1):
    """Nash equilibria of symmetric constant-sum games ``P [B, n, n]`` by a primal–dual interior-point method.

    The equilibrium problem is the monotone linear complementarity problem

        find ``z ≥ 0``, ``w = M z − 1 ≥ 0``, ``zᵀw = 0``, with ``M = 11ᵀ − A = 1.5 − P`` (``A = P − ½`` skew),

    because ``xᵀMx = (1ᵀx)²`` (``A`` is skew) makes ``M`` positive semidefinite, and at a solution
    ``0 = zᵀw = (1ᵀz)² − 1ᵀz`` forces ``1ᵀz = 1`` (``z = 0`` is infeasible), so ``w = −Az ≥ 0``: ``z`` is an
    equilibrium ``π`` with ``(Pπ)_y ≤ ½`` for all ``y``, and conversely every equilibrium is a solution.

    Each iteration is Mehrotra's predictor–corrector on the infeasible central path ``z ∘ w = σμ1``,
    ``r = M z − 1 − w → 0``: the Newton system ``(M + diag(w/z)) dz = rc/z − r``, ``dw = M dz + r`` is factored once
    (one dense LU of size n) and solved twice (affine direction with ``rc = −z∘w``, then
    ``rc = −z∘w − dz_aff∘dw_aff + σμ`` with ``σ = min((μ_aff/μ)³, 0.05)`` (:data:`_SIGMA_MAX`)); the step is 0.995 of
    the way to the boundary.

    Once ``μ = zᵀw/n`` is below ``polish_below`` and the support read off as ``S = {z > w}`` (strict complementarity
    separates the two) is the same in two successive iterations, :func:`support_polish` solves the equalities on it; a
    game stops as soon as its polished point or its iterate has ``DG_0 ≤ accept_gap``. Measured at n = 1,000: 17–18
    iterations (skew, egpo, hodge), 29 (embedding); the polished point then has DG_0 ~ 1e-15.

    With ``drop_ratio`` (numpy), an action with ``w_y/z_y > drop_ratio`` is taken as off the support (on the central
    path ``z_y w_y ≈ μ``, so ``w_y/z_y ≈ δ_y²/μ`` for an action that loses ``δ_y`` against the equilibrium) and
    removed from the system (a numpy batch runs :func:`_ip_numpy_batch`): the rest of the run solves the subgame of
    the kept actions, whose factorisations shrink with it (skew games at n = 1,000: half the actions are gone by the 8th of 17 iterations; B = 256, n = 100: from
    the 7th iteration, 100 -> 55 kept actions by the 12th). The answer's gap is still evaluated over all n actions; a
    wrong removal shows as a gap: one game is re-solved without removal by the caller; in a batch, the games with a
    removal and a gap above ``retry_gap`` are re-solved without removal here, and keep the better answer.

    ``threads``: a numpy batch with removal factors its games on up to this many threads (:func:`_game_threads`).

    Returns:
        ``(π [B, n], iterations)``: the best point per game (polished or the last iterate ``z/1ᵀz``), not certified.
    """
    ops = _Ops(P)
    xp = ops.xp
    B, n = P.shape[0], P.shape[-1]
    if drop_ratio is not None and B > 1 and not ops.torch:
        with _game_threads(threads) as run:
            return _ip_numpy_batch(P, max_iter=max_iter, polish_below=polish_below, accept_gap=accept_gap,
                                   drop_ratio=drop_ratio, retry_gap=retry_gap, run=run)
    best = xp.full_like(P[..., 0], 1.0 / n)
    best_gap = 2.0 * ops.amax(ops.mv(P, best)) - 1.0
    # The working set shrinks as games finish (``a`` maps its rows to the batch): finished games cost nothing.
    a = xp.arange(B)
    # ``Pw``: the system's matrix, ``P`` restricted to the kept actions (``Pa`` itself unless removing). ``M v`` is
    # ``1.5·Σv − P v``, so ``M`` is never stored; ``Pz`` serves both the residual and the gap of ``z/1ᵀz``, which
    # leaves three products with ``P`` per iteration.
    Pa = Pw = P
    z, w = best.clone() if ops.torch else best.copy(), xp.full_like(best, _W0)
    Pz = ops.mv(Pw, z)
    support = z > w  # all False: the classification of the previous iteration
    # ``cols``: the actions still in the system when removing (one numpy game); z, w and Pw then cover only those.
    cols = np.arange(n) if (drop_ratio is not None and B == 1 and not ops.torch) else None
    # ``keep``: the kept actions per game when removing in a numpy batch; the arrays keep their n columns, with
    # ``z = w = r = 0`` off ``keep``, and each game factors its kept block only (:meth:`_Ops.factor_kept`).
    keep = np.ones((B, n), bool) if (drop_ratio is not None and B > 1 and not ops.torch) else None
    removed = np.zeros(B, bool)
    # The systems are written into one buffer (numpy): a fresh 20 MB array per iteration at B = 256, n = 100 cost
    # as much in page faults as the copy itself.
    Kbuf = None if (ops.torch or keep is not None) else np.empty_like(P)
    it = 0
    for it in range(1, max_iter + 1):
        m = z.shape[-1] if keep is None else keep.sum(-1)
        r = 1.5 * z.sum(-1, keepdims=True) - Pz - 1.0 - w
        if keep is not None:
            r *= keep
        mu = (z * w).sum(-1) / m
        if keep is not None:
            solve = ops.factor_kept(Pw, w / z, keep)
        else:
            if ops.torch:
                K = 1.5 - Pw
            else:
                K = Kbuf[: Pw.shape[0]] if m == n else np.empty_like(Pw)
                np.subtract(1.5, Pw, out=K)
            ops.diagonal(K)[...] += w / z
            solve = ops.factor(K)

        def direction(rc):
            dz = solve(rc / z - r)
            dw = 1.5 * dz.sum(-1, keepdims=True) - ops.mv(Pw, dz) + r
            if keep is not None:
                dw *= keep
            return dz, dw

        dz, dw = direction(-z * w)
        alpha = ops.xp.minimum(_to_boundary(z, dz, ops), _to_boundary(w, dw, ops))[..., None]
        mu_aff = ((z + alpha * dz) * (w + alpha * dw)).sum(-1) / m
        sigma = ((mu_aff / mu) ** 3)[..., None]
        sigma = sigma.clamp_max(_SIGMA_MAX) if ops.torch else np.minimum(sigma, _SIGMA_MAX)
        dz, dw = direction(-z * w - dz * dw + sigma * mu[..., None])
        alpha = ops.xp.minimum(_to_boundary(z, dz, ops), _to_boundary(w, dw, ops))[..., None]
        alpha = (0.995 * alpha).clip(max=1.0) if not ops.torch else (0.995 * alpha).clamp_max(1.0)
        # Keep the iterate strictly interior even when a step lands on the boundary in floating point.
        z, w = ops.clamp_min(z + alpha * dz, 1e-300), ops.clamp_min(w + alpha * dw, 1e-300)
        if keep is not None:
            z *= keep
            w *= keep
        Pz = ops.mv(Pw, z)

        mu = (z * w).sum(-1) / m
        if cols is None:
            zf, S = z, z > w
            sz = z.sum(-1)
            g = 2.0 * ops.amax(Pz) / sz - 1.0  # DG_0 of z/1ᵀz
        else:
            zf, S = np.zeros((1, n)), np.zeros((1, n), bool)
            zf[:, cols], S[:, cols] = z, z > w
            sz = zf.sum(-1)
            g = 2.0 * ops.amax(ops.mv(Pa, zf)) / sz - 1.0
        bg, bp = best_gap[a], best[a]
        better = g < bg
        bp = xp.where(better[..., None], zf / sz[..., None], bp)
        bg = xp.where(better, g, bg)
        stable = (S == support).all(-1) & (mu < polish_below)
        support = S
        if bool(stable.any()):
            s = stable.nonzero(as_tuple=True)[0] if ops.torch else np.flatnonzero(stable)
            zp = support_polish(Pa[s], S[s], ops)
            ok = xp.isfinite(zp).all(-1) & (zp >= 0).all(-1)
            zs = xp.where(ok[..., None], zp, zf[s])
            cs = zs / zs.sum(-1, keepdims=True)
            gs = 2.0 * ops.amax(ops.mv(Pa[s], cs)) - 1.0
            better = gs < bg[s]
            bp[s] = xp.where(better[..., None], cs, bp[s])
            bg[s] = xp.where(better, gs, bg[s])
        best[a], best_gap[a] = bp, bg
        if cols is not None:
            drop = (w / z)[0] > drop_ratio
            if drop.any() and not drop.all():
                cols, z, w = cols[~drop], z[:, ~drop], w[:, ~drop]
                Pw = P[:, cols[:, None], cols[None, :]]
                Pz = ops.mv(Pw, z)
                r = r[:, ~drop]
        elif keep is not None:
            drop = keep & (w > drop_ratio * z)
            drop &= (drop.sum(-1) < m)[:, None]  # never a game's last kept actions
            if drop.any():
                keep &= ~drop
                z[drop], w[drop], r[drop] = 0.0, 0.0, 0.0
                removed[a[drop.any(-1)]] = True
                Pz = ops.mv(Pw, z)
        rmax = ops.amax(r.abs() if ops.torch else np.abs(r))
        done = (bg <= accept_gap) | ((mu < 1e-16) & (rmax < 1e-13))
        if not bool((~done).all()):
            if not bool((~done).any()):
                break
            k = (~done).nonzero(as_tuple=True)[0] if ops.torch else np.flatnonzero(~done)
            a, Pa, z, w, support, Pz = a[k], Pa[k], z[k], w[k], support[k], Pz[k]
            Pw = Pa if cols is None else Pw[k]
            if keep is not None:
                keep = keep[k]
    if keep is not None:
        # A wrong removal (an equilibrium action taken as off the support) leaves a gap: those games run again
        # without removal, and keep whichever answer is better.
        again = np.flatnonzero(removed & ~(best_gap <= retry_gap))
        if again.size:
            pi2, _ = lcp_interior_point.__wrapped__(P[again], max_iter=max_iter, polish_below=polish_below,
                                                    accept_gap=accept_gap)
            _keep_better(P, best, best_gap, again, pi2)
    return best, it


def _newton_steps(P, g, coef, rhs, run):
    """numpy: ``J⁻¹ rhs`` per game with ``J = I + (P − g1ᵀ) diag(coef)``, each ``J`` built, factored (LAPACK getrf) and
    solved in turn in one small buffer per thread that stays in cache (building all of them first, then factoring,
    passed over the batch's 20 MB three more times at B = 256, n = 100); ``run`` from :func:`_game_threads`."""
    from scipy.linalg.lapack import dgetrf, dgetrs

    n = P.shape[-1]
    out = np.empty(rhs.shape)

    def games(bs):
        J = np.empty((n, n))
        for b in bs:
            np.subtract(P[b], g[b][:, None], out=J)
            J *= coef[b]
            J.reshape(-1)[:: n + 1] += 1.0
            lu, piv, _ = dgetrf(J.T, overwrite_a=1)  # Jᵀ in Fortran order, factored in place; trans=1: J x = rhs
            out[b] = dgetrs(lu, piv, rhs[b], trans=1)[0]

    run(games, range(P.shape[0]))
    return out


@_quiet
def newton_regularized(P, log_ref, beta: float, *, tol: float = 1e-13, step_tol: float = 1e-13, max_iter: int = 40,
                       floor_rel: float = 1e-15, threads: int = 1):
    """``π*_β`` for a stack of games by damped Newton at the target β, started from ``π_ref`` (no continuation).

    Solves ``F(ℓ) = ℓ − ℓ_ref − Pπ/β − c = 0`` (``π = softmax ℓ``, ``F`` centred) with the Jacobian
    ``J = I − (1/β) P (diag π − ππᵀ)``, whose eigenvalues ``1 − iλ/β`` (``λ`` real: ``P(diag π − ππᵀ)`` equals
    ``A(diag π − ππᵀ)``, similar to a skew matrix) have modulus ≥ 1, so every step is defined and descends ``‖F‖²``;
    steps are halved until ``‖F‖`` decreases. Measured at n = 1,000 from ``π_ref``: 3 steps at β = 0.1, 5–9 at
    β = 0.01, against 8 and 17–20 with continuation in β (factor 4).

    Returns:
        ``(log π [B, n], ‖F‖ [B], converged [B])``: converged when ``‖F‖ ≤ max(tol, min(floor_rel·√n/β, 1e-11))``
        or a full step moved no logit by more than ``step_tol``; the caller retries the others with continuation in β.
        The second bound is ``‖F‖``'s floating-point floor: ``Pπ/β`` (entries up to 1/β) is known to ~1e-16 relative,
        so at n = 100, β = 0.01 ``‖F‖`` stalls at 1e-13–3e-13, where one more factorisation per game only confirmed
        it (skew, B = 256: 8.3 -> 7.3 factorisations per game). ``KL(π*‖π) ≤ ½‖δℓ‖∞² ≲ ½‖F‖² ≤ 5e-23``, and the
        certified residual (≤ 1e-10) keeps a margin of 10.

    ``threads``: a numpy batch factors its games' Jacobians on up to this many threads (:func:`_game_threads`).
    """
    if threads > 1 and not type(P).__module__.startswith("torch"):
        with _game_threads(threads) as run:
            return _newton_regularized(P, log_ref, beta, tol, step_tol, max_iter, floor_rel, run)
    return _newton_regularized(P, log_ref, beta, tol, step_tol, max_iter, floor_rel, lambda fn, items: fn(items))


def _newton_regularized(P, log_ref, beta, tol, step_tol, max_iter, floor_rel, run):
    ops = _Ops(P)
    xp = ops.xp

    def lse(x):
        m = ops.amax(x)[..., None]
        return m + xp.log(xp.exp(x - m).sum(-1, keepdims=True))

    def residual(P, log_ref, log_pi):
        F = log_pi - log_ref - ops.mv(P, xp.exp(log_pi)) / beta
        return F - F.mean(-1, keepdims=True)

    def norm(F):
        return xp.sqrt((F * F).sum(-1))

    log_ref = xp.broadcast_to(log_ref, P.shape[:-1])
    log_pi = log_ref - lse(log_ref)
    F = residual(P, log_ref, log_pi)
    fn = norm(F)
    tol = max(tol, min(floor_rel * P.shape[-1] ** 0.5 / beta, 1e-11))
    conv = fn <= tol
    # Only the games still moving are stepped: converged ones, and those whose line search failed (from the same
    # point the same step fails again), cost nothing; the working set is gathered again only when it shrinks.
    done = conv.clone() if ops.torch else conv.copy()
    a, Pa, lra = None, P, log_ref
    for _ in range(max_iter):
        if bool(done.all()):
            break
        if a is None or bool(done[a].any()):  # gather the working set again only when it shrank
            a = (~done).nonzero(as_tuple=True)[0] if ops.torch else np.flatnonzero(~done)
            Pa, lra = (P, log_ref) if a.shape[0] == P.shape[0] else (P[a], log_ref[a])
        la, Fa, fa = log_pi[a], F[a], fn[a]
        pi = xp.exp(la)
        g = ops.mv(Pa, pi)
        if ops.torch:
            J = Pa - g[..., :, None]  # P(diag π − ππᵀ) = (P − (Pπ)1ᵀ) diag π, in two passes over n²
            J *= pi[..., None, :] * (-1.0 / beta)
            ops.diagonal(J)[...] += 1.0
            step = ops.solve(J, -Fa)
        else:
            step = _newton_steps(Pa, g, pi * (-1.0 / beta), -Fa, run)
        step = step - step.mean(-1, keepdims=True)
        small = ops.amax(step.abs() if ops.torch else np.abs(step)) <= step_tol
        t = xp.ones_like(fa)
        new_log, new_F, new_fn = la, Fa, fa
        pending = xp.ones_like(small)
        for _ in range(30):  # backtracking per game; a game whose search fails keeps its point
            cand = la + t[..., None] * step
            cand = cand - lse(cand)
            Fc = residual(Pa, lra, cand)
            fc = norm(Fc)
            ok = pending & ((fc < fa * (1 - 1e-4 * t)) | small)
            new_log = xp.where(ok[..., None], cand, new_log)
            new_F = xp.where(ok[..., None], Fc, new_F)
            new_fn = xp.where(ok, fc, new_fn)
            pending = pending & ~ok
            if not bool(pending.any()):
                break
            t = xp.where(pending, t * 0.5, t)
        log_pi[a], F[a], fn[a] = new_log, new_F, new_fn
        conv[a] = small | (new_fn <= tol)
        done[a] = conv[a] | pending  # pending: no decrease found
    return log_pi, fn, conv





def _ip_numpy_batch(P, *, max_iter, polish_below, accept_gap, drop_ratio, retry_gap, run):
    """:func:`lcp_interior_point` on a numpy batch with removal: the same Mehrotra iteration, organised so that the
    per-game work is three LAPACK calls and a few slices per iteration (at B = 256, n = 100 the per-game Python calls
    and the products with the whole batch, not the factorisations alone, were most of the time).

    * Each game's arrays are held in its own order ``perm`` with its kept actions first: its system is the leading
      ``m × m`` block of ``1.5 − P[perm][:, perm] + diag(w/z)``, copied from a float32 ``1.5 − P`` kept in that
      order and factored in place in float32 throughout (LAPACK sgetrf/sgetrs); ``Pz``, the residual ``r`` and
      every gap are float64 from the original ``P``, so a direction's rounding only slows the iteration, and
      certification is unaffected.
    * ``dw`` comes from the factored system itself: ``K dz = rc/z − r`` with ``K = M + diag(w/z)`` is
      ``M dz + r = (rc − w∘dz)/z``, so the only product with ``P`` per iteration is ``Pz`` (every action's row, the
      removed ones included: the residual and the gap of ``z/1ᵀz``).
    * A removed action first stays inside the block with ``z = w = 0`` and a diagonal of 1e30 (its ``dz`` is then 0
      to rounding, as it nearly was: ``w/z`` is already above ``drop_ratio``); the game's order is rebuilt (one gather
      of its ``P``) once such actions are an eighth of its block.
    * New support guesses are polished as soon as they look clear (:data:`_BATCH_POLISH_MU`, :data:`_CLEAR`), in
      the original action order, and certified by their gap over all ``n`` actions.
    * Finished games are skipped by the per-game loops; the working arrays are compacted once fewer than
      :data:`_COMPACT` of their rows still run.
    * The per-game factorisations and solves go through ``run`` (:func:`_game_threads`), in parallel when it has
      threads.
    """
    from scipy.linalg.lapack import sgetrf, sgetrs

    ops = _Ops(P)
    B, n = P.shape[0], P.shape[-1]
    best = np.full((B, n), 1.0 / n)
    best_gap = 2.0 * np.einsum("bij,bj->bi", P, best).max(-1) - 1.0
    a = np.arange(B)  # batch index of each working row
    perm = np.tile(np.arange(n), (B, 1))
    # ``M = 1.5 − P`` in float32 per working row, in the game's order ``M[perm][:, perm]`` (one array for the batch
    # until a game's order is rebuilt): each system starts from a copy of its leading block.
    Mf = list(np.subtract(1.5, P, dtype=np.float32, casting="unsafe"))
    m = np.full(B, n)  # block size per working row
    keep = np.ones((B, n), bool)  # kept actions (a subset of the block)
    act = np.ones(B, bool)  # working rows still running
    z, w = np.full((B, n), 1.0 / n), np.full((B, n), _W0)
    Pz = np.einsum("bij,bj->bi", P, z)
    support = np.zeros((B, n), bool)
    removed = np.zeros(B, bool)
    it = 0
    for it in range(1, max_iter + 1):
        rows = np.flatnonzero(act)
        nk = keep.sum(-1)
        r = (1.5 * z.sum(-1, keepdims=True) - Pz - 1.0 - w) * keep
        mu = (z * w).sum(-1) / nk
        zk = np.where(keep, z, 1.0)  # z with 1 off keep: the divisions below stay finite there
        d = np.where(keep, np.minimum(w / zk, 1e30), 1e30).astype(np.float32)  # finite in float32 too
        ml = m.tolist()  # Python ints: cheaper to slice with than numpy scalars, ~3 x 2 slices per game
        rl = rows.tolist()
        lus = {}

        def factor(idx):
            for i in idx:
                # A fresh array per game: the allocator reuses the last game's memory, where one buffer for the batch
                # (20 MB) cost ~20 ms of page faults on its first pass.
                mi = ml[i]
                K = Mf[i][:mi, :mi].copy()
                K.reshape(-1)[:: mi + 1] += d[i, :mi]
                lus[i] = sgetrf(K.T, overwrite_a=1)[:2]

        run(factor, rl)

        def direction(rc):
            rhs = np.where(keep, rc / zk - r, 0.0)
            dz = np.zeros_like(z)

            def solve(idx):
                for i in idx:
                    mi = ml[i]
                    lu, piv = lus[i]
                    dz[i, :mi] = sgetrs(lu, piv, rhs[i, :mi], trans=1)[0]

            run(solve, rl)
            dz *= keep
            # K dz = rc/z − r with K = M + diag(w/z) gives M dz + r = (rc − w∘dz)/z: no product with P.
            dw = np.where(keep, (rc - w * dz) / zk, 0.0)
            return dz, dw

        dz, dw = direction(-z * w)
        alpha = np.minimum(_to_boundary_np(z, dz), _to_boundary_np(w, dw))[:, None]
        mu_aff = ((z + alpha * dz) * (w + alpha * dw)).sum(-1) / nk
        sigma = np.minimum((mu_aff / mu) ** 3, _SIGMA_MAX)[:, None]
        dz, dw = direction(-z * w - dz * dw + sigma * mu[:, None])
        alpha = np.minimum(_to_boundary_np(z, dz), _to_boundary_np(w, dw))[:, None]
        alpha = (0.995 * alpha).clip(max=1.0)
        z = np.maximum(z + alpha * dz, 1e-300) * keep
        w = np.maximum(w + alpha * dw, 1e-300) * keep
        drop = keep & (w > drop_ratio * z)
        drop &= (act & (drop.sum(-1) < nk))[:, None]  # never a game's last kept actions
        gd = np.flatnonzero(drop.any(-1))
        if gd.size:
            keep[gd] &= ~drop[gd]
            z[gd] *= keep[gd]
            w[gd] *= keep[gd]
            removed[a[gd]] = True
            nk = keep.sum(-1)
            re = gd[(m[gd] - nk[gd]) * 8 >= m[gd]]  # rebuild the order of these: kept actions first
            if re.size:
                q = np.argsort(~keep[re], axis=-1, kind="stable")
                for arr in (perm, z, w, support, keep):
                    arr[re] = np.take_along_axis(arr[re], q, -1)
                for i, qi in zip(re, q):
                    Mf[i] = Mf[i].take(qi, 0).take(qi, 1)
                m[re] = nk[re]
        # ``Pz`` in float64 from the original ``P``, with ``z`` put back in the original order (0 off ``keep``): one
        # product with the whole batch (its finished games' z are 0; ~1 ms at B = 256, n = 100) while more than
        # :data:`_EINSUM_ROWS` of it runs, else game by game (~5 µs each); read back in each game's order.
        if rows.size > _EINSUM_ROWS * B:
            zo = np.zeros((B, n))
            zo[a[rows, None], perm[rows]] = z[rows]
            Po = np.einsum("bij,bj->bi", P, zo)[a[rows]]
        else:
            zo = np.zeros((rows.size, n))
            np.put_along_axis(zo, perm[rows], z[rows], axis=-1)
            Po = np.empty((rows.size, n))
            for j, i in enumerate(rows):
                Po[j] = P[a[i]] @ zo[j]
        Pz[rows] = np.take_along_axis(Po, perm[rows], -1)
        mu = (z * w).sum(-1) / nk
        S = z > w
        sz = z.sum(-1)
        g = 2.0 * Pz.max(-1) / sz - 1.0  # DG_0 of z/1ᵀz: every action's row, the removed ones included
        better = np.flatnonzero(act & (g < best_gap[a]))
        if better.size:
            bp = np.empty((better.size, n))
            np.put_along_axis(bp, perm[better], z[better] / sz[better, None], axis=-1)
            best[a[better]], best_gap[a[better]] = bp, g[better]
        # Polish a game's support guess once it changed and at most _UNCLEAR of its kept actions have z/w within a
        # factor _CLEAR of 1; a generic skew game's equilibrium has an odd support, so an even guess of c actions is
        # tried as the c + 1 and the c − 1 actions of largest z/w.
        rho = z / np.where(keep, w, 1.0)
        unclear = (keep & (rho < _CLEAR) & (rho > 1.0 / _CLEAR)).sum(-1)
        new = act & ~(S == support).all(-1) & (mu < max(polish_below, _BATCH_POLISH_MU)) & (unclear <= _UNCLEAR)
        support = np.where(new[:, None], S, support)
        s = np.flatnonzero(new)
        if s.size:
            c = S[s].sum(-1)
            order = np.argsort(-np.where(keep[s], z[s] / np.where(keep[s], w[s], 1.0), -1.0), axis=-1)
            c, sl, al = c.tolist(), s.tolist(), a.tolist()

            def polish(js):  # each game writes only its own row of best and best_gap
                for j in js:
                    i = sl[j]
                    b = al[i]
                    for kk in ((c[j],) if c[j] % 2 else (c[j] + 1, c[j] - 1)):
                        if kk < 1:
                            continue
                        ok, cand, gap = _polish_one(P[b], perm[i][order[j, :kk]])
                        if ok and gap < best_gap[b]:
                            best[b], best_gap[b] = cand, gap
                        if best_gap[b] <= accept_gap:
                            break

            run(polish, range(len(sl)))
        rmax = np.abs(r).max(-1)
        act &= ~((best_gap[a] <= accept_gap) | ((mu < 1e-16) & (rmax < 1e-13)))
        nact = int(act.sum())
        if nact == 0:
            break
        if nact < _COMPACT * act.size:
            k = np.flatnonzero(act)
            a, perm, m, keep, act = a[k], perm[k], m[k], keep[k], act[k]
            Mf = [Mf[i] for i in k]
            z, w, Pz, support = z[k], w[k], Pz[k], support[k]
    # A wrong removal (an equilibrium action taken as off the support) leaves a gap: those games run again, here with
    # a removal threshold 100 times higher (B = 256, n = 100 at w/z > 1e2: 5 skew, 13 egpo, 17 embedding games; at
    # 1e4 none), beyond 1e6 without removal, and keep whichever answer is better.
    again = np.flatnonzero(removed & ~(best_gap <= retry_gap))
    if again.size:
        if drop_ratio * 100 <= 1e6:
            pi2, _ = _ip_numpy_batch(P[again], max_iter=max_iter, polish_below=polish_below, accept_gap=accept_gap,
                                     drop_ratio=drop_ratio * 100, retry_gap=retry_gap, run=run)
        else:
            pi2, _ = lcp_interior_point.__wrapped__(P[again], max_iter=max_iter, polish_below=polish_below,
                                                    accept_gap=accept_gap)
        _keep_better(P, best, best_gap, again, pi2)
    return best, it


def _polish_one(P, idx):
    """:func:`support_polish` for one numpy game on the support ``idx`` (original action indices): ``(ok, π, DG_0)``
    with ``π`` the normalised solution of ``(M z)_idx = 1``, ``ok`` when the system is regular and ``z ≥ 0``."""
    from scipy.linalg.lapack import dgesv

    if idx.size == 0:
        return False, None, np.inf
    Pc = P.take(idx, 1)  # the support's columns: the system is its rows idx, the gap its product with x
    K = 1.5 - Pc.take(idx, 0)
    _, _, x, info = dgesv(K.T, np.ones(idx.size), overwrite_a=1, overwrite_b=1)  # Kᵀᵀ = K: Fortran order, no copy
    if info != 0 or not (x >= 0).all() or not np.isfinite(x).all():
        return False, None, np.inf
    x /= x.sum()
    pi = np.zeros(P.shape[0])
    pi[idx] = x
    return True, pi, 2.0 * float((Pc @ x).max()) - 1.0


# :func:`_ip_numpy_batch` factors in float32 throughout (LAPACK sgetrf: 9 ms against 13 ms for 256 systems of
# n = 100): a direction need not be exact for the iterate to progress, and the residual and every gap are float64
# from ``P`` and the iterate. Switching to float64 below μ = 1e-8 (the previous rule) gave the same factorisations
# per game at B = 256, n = 100 (skew, egpo, embedding, every answer certified), and needing no float64 copy of each
# game's reordered ``P`` removed half of the reordering's gathers.
#: :func:`_ip_numpy_batch` polishes a new support guess ``S = {z > w}`` once ``μ < _BATCH_POLISH_MU`` and at most ``_UNCLEAR`` kept actions have ``1/_CLEAR < z/w < _CLEAR`` (instead of
#: waiting for the same guess in two iterations). B = 256, n = 100, against the two-iteration rule (alternating):
#: factorisations per game skew 9.0 -> 7.3, embedding 14.1 -> 12.6, polishes per game 1.6 -> 2.1 and 1.8 -> 2.4,
#: time 0.20 -> 0.18 s and 0.34 -> 0.32 s (``_CLEAR`` 10 or 30, ``_UNCLEAR`` 1 polished less and gained less).
_BATCH_POLISH_MU = 1e-3
_CLEAR = 3.0
_UNCLEAR = 2
#: :func:`_ip_numpy_batch` compacts its working arrays once fewer than this fraction of their rows still run (the
#: whole-batch operations then skip finished games; a compaction gathers a dozen ``[B, n]`` arrays, ~0.2 ms).
_COMPACT = 0.9
#: :func:`_ip_numpy_batch` computes ``Pz`` as one product with the whole batch (~1 ms at B = 256, n = 100) while more
#: than this fraction of its games still run, else game by game (~5 µs each).
_EINSUM_ROWS = 0.5
#: Both interior-point paths cap Mehrotra's centring ``σ = (μ_aff/μ)³`` at this: an early iterate far from the
#: central path otherwise takes ``σ`` near 1, a step that mostly re-centres. Factorisations per game at n = 100
#: (B = 256 batch / 96 single games, every answer certified), uncapped -> capped: batch embedding 12.6 -> 11.7, skew
#: 7.3 -> 7.3, egpo 7.8 -> 7.8; single games embedding 13.2 -> 12.7, skew 8.9 -> 8.7, egpo 8.8 -> 8.7 (caps 0.02,
#: 0.1 and 0.2 were no better).
_SIGMA_MAX = 0.05
