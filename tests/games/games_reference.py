"""Independent reference computations for the games tests (never calling nashlab.games.nash or metrics).

Each routine here reaches the same quantity as the library by another algorithm, so agreement is evidence, not
tautology:

* :func:`reg_nash_root` — ``π*_β`` by MINPACK's hybrid Powell method (``scipy.optimize.root(method="hybr")``) on the
  fixed-point equation written in π-space, ``π − softmax(ℓ_ref + Pπ/β) = 0``, with continuation in β by halving
  (the library runs damped Newton on the logits with a ×4 schedule).
* :func:`brute_gap` — ``max_{π₁} J_β(π₁, π) − min_{π₂} J_β(π, π₂)`` evaluated from the definition of ``J_β`` at the
  explicit Gibbs best responses (the library uses the log-sum-exp closed form), together with a check that no
  sampled pure or mixed response does better.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import root


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def kl(p: np.ndarray, q: np.ndarray) -> float:
    """``Σ p log(p/q)`` with ``0 log 0 = 0`` (plain numpy)."""
    m = p > 0
    return float(np.sum(p[m] * (np.log(p[m]) - np.log(q[m]))))


def J(P, pi1, pi2, pi_ref, beta):
    """``J_β(π₁, π₂) = π₁ᵀPπ₂ − β KL(π₁‖π_ref) + β KL(π₂‖π_ref)`` straight from the definition in docs/design.md §2."""
    val = float(pi1 @ P @ pi2)
    if beta > 0:
        val += -beta * kl(pi1, pi_ref) + beta * kl(pi2, pi_ref)
    return val


def best_responses(P, pi, pi_ref, beta):
    """The maximiser of ``J_β(·, π)`` and the minimiser of ``J_β(π, ·)``.

    β > 0: Gibbs distributions ``π₁ ∝ π_ref exp(Pπ/β)`` and ``π₂ ∝ π_ref exp(−Pᵀπ/β)`` (the minimiser of
    ``πᵀPπ₂ + β KL(π₂‖π_ref)``); β = 0: the best pure actions.
    """
    n = P.shape[0]
    up, down = P @ pi, P.T @ pi
    if beta == 0:
        return np.eye(n)[np.argmax(up)], np.eye(n)[np.argmin(down)]
    return softmax(np.log(pi_ref) + up / beta), softmax(np.log(pi_ref) - down / beta)


def brute_gap(P, pi, pi_ref, beta, *, rng=None, samples=200):
    """``max_{π₁} J_β(π₁, π) − min_{π₂} J_β(π, π₂)`` from the definition, at the explicit best responses.

    Also evaluates ``J_β`` at every pure action and at ``samples`` random mixed policies (Dirichlet with several
    concentrations) and returns the largest violation, which must be ≤ 0 up to rounding: the best responses are best.

    Returns:
        ``(gap, violation)``.
    """
    n = P.shape[0]
    br_up, br_down = best_responses(P, pi, pi_ref, beta)
    top, bottom = J(P, br_up, pi, pi_ref, beta), J(P, pi, br_down, pi_ref, beta)
    rng = np.random.default_rng(0) if rng is None else rng
    cands = [np.eye(n)[i] for i in range(n)] if beta == 0 else []
    for alpha in (0.1, 1.0, 10.0):
        cands += list(rng.dirichlet(np.full(n, alpha), size=samples // 3))
    cands += [0.5 * (br_up + c) for c in cands[:10]] + [pi]
    violation = -np.inf
    for c in cands:
        if beta > 0 and (c <= 0).any():
            c = np.clip(c, 1e-300, None)
            c = c / c.sum()
        violation = max(violation, J(P, c, pi, pi_ref, beta) - top, bottom - J(P, pi, c, pi_ref, beta))
    return top - bottom, violation


def reg_nash_root(P, pi_ref, beta, *, factor: float = 2.0, tol: float = 1e-14):
    """``π*_β`` by ``scipy.optimize.root(method="hybr")`` on ``G(π) = π − softmax(ℓ_ref + Pπ/β)``, continued in β.

    The continuation starts at ``β₀ = max(1, β)`` from ``π_ref`` and divides β by ``factor`` until the target; each
    hybr solve uses the analytic Jacobian ``I − (diag s − ssᵀ) P / β`` with ``s = softmax(ℓ_ref + Pπ/β)``.
    A final polish iterates ``π ← softmax(ℓ_ref + Pπ/β)`` in log space via the same root call at the target.
    """
    log_ref = np.log(pi_ref)
    n = P.shape[0]

    def G(pi, b):
        return pi - softmax(log_ref + P @ pi / b)

    def dG(pi, b):
        s = softmax(log_ref + P @ pi / b)
        return np.eye(n) - (np.diag(s) - np.outer(s, s)) @ P / b

    betas = [beta]
    while betas[-1] < 1.0:
        betas.append(betas[-1] * factor)
    pi = np.array(pi_ref, dtype=float)
    for b in reversed(betas):
        sol = root(G, pi, args=(b,), jac=dG, method="hybr", tol=tol)
        pi = np.clip(sol.x, 0.0, None)
        pi /= pi.sum()
    # π-space solves lose relative accuracy on tiny entries; finish in log space: ℓ ← ℓ_ref + Pπ/β − log Z is exact
    # on the fixed point and, from this close, one application fixes the tiny entries' relative error.
    for _ in range(3):
        pi = softmax(log_ref + P @ pi / beta)
    return pi


def reg_nash_picard(P, pi_ref, beta, *, damping: float = 1.0, tol: float = 1e-13, max_iter: int = 10_000):
    """``π*_β`` by the damped fixed-point iteration ``ℓ ← (1−α)ℓ + α(ℓ_ref + Pπ/β)`` (normalised), from ``π_ref``.

    A contraction when ``α‖(diag π − ππᵀ)(P − ½)‖/β < 1`` — e.g. β = 0.1 at n = 1,000 on the EGPO games, where π
    is spread over many actions; used there as a reference independent of Newton.
    """
    log_ref = np.log(pi_ref)
    ell = log_ref.copy()
    for _ in range(max_iter):
        pi = softmax(ell)
        target = log_ref + P @ pi / beta
        new = (1 - damping) * ell + damping * target
        new = new - new.max()
        new = new - np.log(np.exp(new).sum())
        if np.abs(new - ell).max() <= tol:
            return softmax(new)
        ell = new
    raise RuntimeError(f"fixed-point iteration did not converge in {max_iter} steps (beta={beta})")


def multiplayer_gap_brute(P, pis, pi_ref, beta):
    """Multiplayer gap from the definition: for each player i, ``J_i(x) = (1/(N−1)) Σ_{j≠i} xᵀPπ_j − β KL(x‖π_ref)``
    evaluated at the Gibbs best response (β > 0) or every pure action (β = 0), minus ``J_i(π_i)``; max over i."""
    N, n = pis.shape
    gaps = []
    for i in range(N):
        def Ji(x):
            val = sum(float(x @ P @ pis[j]) for j in range(N) if j != i) / (N - 1)
            return val - (beta * kl(x, pi_ref) if beta > 0 else 0.0)

        r = sum(P @ pis[j] for j in range(N) if j != i) / (N - 1)
        if beta > 0:
            best = Ji(softmax(np.log(pi_ref) + r / beta))
        else:
            best = max(Ji(np.eye(n)[y]) for y in range(n))
        gaps.append(best - Ji(pis[i]))
    return max(gaps)
