"""Equilibrium metrics, batched over leading axes, in closed form.

Every function accepts numpy arrays or torch tensors (any device) and returns the same kind it was given: a torch
tensor for torch input (so solvers on a GPU can trace metrics without a host round trip), a numpy array otherwise.
Metrics live here and never inside a solver (as open_spiel keeps exploitability apart from its algorithms).

Shapes: ``n`` actions, ``...`` batch axes; ``P [..., n, n]``, policies ``[..., n]``.
"""

from __future__ import annotations

import numpy as np
import torch


def _to_torch(*arrays):
    """Convert arguments to a common float tensor; report whether the caller passed numpy."""
    is_numpy = not any(isinstance(a, torch.Tensor) for a in arrays if a is not None)
    device = next((a.device for a in arrays if isinstance(a, torch.Tensor)), torch.device("cpu"))
    dtype = next((a.dtype for a in arrays if isinstance(a, torch.Tensor) and a.is_floating_point()), torch.float64)
    # A read-only numpy array (e.g. a PreferenceGame's P) is copied: torch warns on non-writable buffers.
    out = [
        None if a is None else torch.as_tensor(
            a.copy() if isinstance(a, np.ndarray) and not a.flags.writeable else a, dtype=dtype, device=device
        )
        for a in arrays
    ]
    return out, is_numpy


def _out(t: torch.Tensor, is_numpy: bool):
    if is_numpy:
        arr = t.detach().cpu().numpy()
        return arr.item() if arr.ndim == 0 else arr
    return t


def _xlogy_ratio(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``p · log(p / q)`` with ``0 · log 0 = 0``."""
    return torch.where(p > 0, p * (torch.log(torch.where(p > 0, p, 1.0)) - torch.log(q)), torch.zeros_like(p))


def win_rates(P, pi):
    """Win rates against an opponent: ``g = P π``, ``g_y = Pr(y ≻ π)``.

    Args:
        P: ``[..., n, n]`` preference matrix.
        pi: ``[..., n]`` opponent policy.

    Returns:
        ``[..., n]`` in ``[0, 1]``.
    """
    (P, pi), is_np = _to_torch(P, pi)
    return _out((P @ pi.unsqueeze(-1)).squeeze(-1), is_np)


def expected_win_rate(P, pi, mu):
    """Win probability of ``π`` against ``μ``: ``πᵀPμ = Σ_{y,y'} π(y) P[y, y'] μ(y')`` (``½`` when ``μ = π``).

    Args:
        P: ``[..., n, n]`` preference matrix.
        pi, mu: ``[..., n]`` policies.

    Returns:
        ``[...]`` in ``[0, 1]``.

    >>> round(expected_win_rate([[0.5, 1.0], [0.0, 0.5]], [1.0, 0.0], [0.5, 0.5]), 12)
    0.75
    """
    (P, pi, mu), is_np = _to_torch(P, pi, mu)
    return _out(torch.einsum("...i,...ij,...j->...", pi, P, mu), is_np)

def kl(p, q):
    """``KL(p‖q) = Σ_y p(y) log(p(y)/q(y))`` over the last axis; ``[...]``, ≥ 0, +inf when ``q`` misses ``p``'s support."""
    (p, q), is_np = _to_torch(p, q)
    return _out(_xlogy_ratio(p, q).sum(-1).clamp_min(0.0), is_np)


def kl_to_nash(pi_star_beta, pi):
    """``KL(π*_β ‖ π_t)``: the equilibrium first, the orientation in which INPO, Nash-MD, EGPO state their bounds.

    Meaningful only when ``π*_β`` is the game's one equilibrium: always for β > 0; at β = 0 a game may have a whole
    set of them (:mod:`nashlab.games.equilibrium_set`), and :func:`nashlab.solvers.solve` then reports NaN."""
    return kl(pi_star_beta, pi)


def duality_gap(P, pi):
    """Duality gap of the symmetric policy ``π`` in the original game: ``DG_0(π) = 2 max_y (Pπ)_y − 1``.

    ``DG_0 = max_{π₁} π₁ᵀPπ − min_{π₂} πᵀPπ₂``; since ``Pᵀ = 1 − P`` the minimum equals ``1 − max_y (Pπ)_y``.
    ``DG_0 ≥ 0`` (``πᵀPπ = ½``) with equality exactly at a Nash equilibrium (a maximal lottery).

    Args:
        P: ``[..., n, n]``.
        pi: ``[..., n]`` policy.

    Returns:
        ``[...]`` in ``[0, 1]``.

    >>> round(duality_gap([[0.5, 1.0], [0.0, 0.5]], [0.5, 0.5]), 12)
    0.5
    """
    (P, pi), is_np = _to_torch(P, pi)
    g = (P @ pi.unsqueeze(-1)).squeeze(-1)
    return _out((2.0 * g.amax(-1) - 1.0).clamp_min(0.0), is_np)


def best_response_value(P, pi, pi_ref, beta):
    """Regularised best-response value ``V(π) = max_{π'} π'ᵀPπ − β KL(π'‖π_ref) = β log Σ_y π_ref(y) exp((Pπ)_y/β)``.

    For ``β = 0`` this is ``max_y (Pπ)_y``. ``[...]``.
    """
    (P, pi, pi_ref), is_np = _to_torch(P, pi, pi_ref)
    g = (P @ pi.unsqueeze(-1)).squeeze(-1)
    beta = float(beta)
    if beta == 0.0:
        return _out(g.amax(-1), is_np)
    return _out(beta * torch.logsumexp(torch.log(pi_ref) + g / beta, dim=-1), is_np)


def reg_duality_gap(P, pi, pi_ref, beta):
    """Duality gap in the β-regularised game.

    ``DG_β(π) = 2β log Σ_y π_ref(y) exp((Pπ)_y / β) + 2β KL(π‖π_ref) − 1``
    ``      = max_{π₁} J_β(π₁, π) − min_{π₂} J_β(π, π₂)``, with ``J_β(π, μ) = πᵀPμ − β KL(π‖π_ref) + β KL(μ‖π_ref)``.

    ``DG_β ≥ 0``, zero exactly at ``π*_β``; ``β = 0`` gives :func:`duality_gap`. ``β`` is a Python float shared by
    the batch.

    Args:
        P: ``[..., n, n]``.
        pi: ``[..., n]`` policy.
        pi_ref: ``[..., n]`` reference policy with full support.
        beta: ``β ≥ 0``.

    Returns:
        ``[...]``, ≥ 0.

    >>> round(reg_duality_gap([[0.5, 0.5], [0.5, 0.5]], [0.5, 0.5], [0.5, 0.5], 0.1), 12)
    0.0
    """
    beta = float(beta)
    if beta == 0.0:
        return duality_gap(P, pi)
    (P, pi, pi_ref), is_np = _to_torch(P, pi, pi_ref)
    v = best_response_value(P, pi, pi_ref, beta)
    gap = 2.0 * v + 2.0 * beta * _xlogy_ratio(pi, pi_ref).sum(-1) - 1.0
    return _out(gap.clamp_min(0.0), is_np)


def multiplayer_duality_gap(P, pis, pi_ref=None, beta: float = 0.0):
    """Multiplayer duality gap of a profile of ``N`` players sharing the pairwise preference ``P``.

    Player ``i`` maximises ``J_i(π_i, π_{−i}) = (1/(N−1)) Σ_{j≠i} π_iᵀPπ_j − β KL(π_i‖π_ref)``. With
    ``r_i = (1/(N−1)) Σ_{j≠i} Pπ_j`` the best response has value ``β log Σ_y π_ref(y) exp(r_i(y)/β)`` (``max_y r_i(y)``
    when β = 0), and the gap is

    ``max_i [ max_{π'} J_i(π', π_{−i}) − J_i(π_i, π_{−i}) ]``  (MNPO, arXiv 2509.23102, Eq. 9, maximised over players).

    With ``N = 2`` and ``π_1 = π_2 = π`` this is ``DG_β(π)/2``.

    Args:
        P: ``[..., n, n]``.
        pis: ``[..., N, n]`` one policy per player (``N ≥ 2``).
        pi_ref: ``[..., n]``; uniform if ``None``.
        beta: ``β ≥ 0``.

    Returns:
        ``[...]``, ≥ 0.
    """
    (P, pis, pi_ref), is_np = _to_torch(P, pis, pi_ref)
    N, n = pis.shape[-2], pis.shape[-1]
    if N < 2:
        raise ValueError(f"a multiplayer gap needs at least 2 players; got {N}")
    if pi_ref is None:
        pi_ref = torch.full((n,), 1.0 / n, dtype=pis.dtype, device=pis.device)
    g = pis @ P.transpose(-1, -2)  # [..., N, n]: row j is Pπ_j
    r = (g.sum(-2, keepdim=True) - g) / (N - 1)  # [..., N, n]: mean over the other players
    value = (pis * r).sum(-1)
    beta = float(beta)
    ref = pi_ref.unsqueeze(-2)
    if beta == 0.0:
        best = r.amax(-1)
    else:
        best = beta * torch.logsumexp(torch.log(ref) + r / beta, dim=-1)
        value = value - beta * _xlogy_ratio(pis, ref).sum(-1)
    return _out((best - value).amax(-1).clamp_min(0.0), is_np)
