"""MNPO — multiplayer Nash preference optimisation, theory form (Wu et al., arXiv 2509.23102 v3, Eq. 10 / Eq. 19).

N players share the pairwise preference P; player i maximises ``(1/(N−1)) Σ_{j≠i} P(π_i ≻ π_j) − β KL(π_i‖π_ref)``.
The theoretical update is OMD towards the geometric mean of the opponents:

    π_i' ∝ (Π_{j≠i} π_j)^{1/(N−1)} exp((η/(N−1)) Σ_{j≠i} Pπ_j)

i.e. ``ℓ_i' = mean_{j≠i} ℓ_j + η · mean_{j≠i} Pπ_j``. Symbols: ``ℓ_j = log π_j`` (``log_pi[..., j, :]``), η
(``eta``; Eq. 10 multiplies P by η: the same η; the code's ``eta`` is its inverse, η = 1/``eta``), N
(``num_players``). **No π_ref term**: β is recorded for metrics only. When all players coincide (π_j = π for all j) the
update is Hedge, ``ℓ' = ℓ + η Pπ``, on the common policy (``tests/solvers/test_solvers_faithful.py::test_mnpo_reduces_to_hedge``).
The players may start at different policies (``log_pi0 [..., N, n]``): the disagreement
``d_i = ℓ_i − mean_j ℓ_j`` then obeys ``d_i' = −d_i/(N−1) + η(r_i − r̄)``, so it contracts by ``1/(N−1)`` per step up
to an O(η) term (derived).

* Step-size condition: any ``η > 0``; ``2 ≤ num_players ≤ 1024`` (:data:`~.core.MAX_PLAYERS`).
* Claim (average iterate; MNPO's no-regret argument, Freund & Schapire): with ``η ∝ 1/√T`` the multiplayer duality gap
  of the average profile (β = 0) falls as O(1/√T), for N = 3, 4 from distinct seeded initial policies —
  ``tests/solvers/test_solvers_rates.py::test_mnpo_average_gap_rate``. No last-iterate claim.
* Defaults: ``η = 0.1``, ``num_players = 3``.

>>> from nashlab.solvers import make_solver
>>> make_solver("mnpo", num_players=4).hparams
{'eta': 0.1, 'beta': 0.0, 'num_players': 4}
"""

from __future__ import annotations

import torch

from .core import Solver, SolverState, Tensor, advance, check_nonnegative, check_positive, init_state, mirror_loss
from .core import check_players, tabular_prox

DEFAULT_ETA = 0.1
DEFAULT_BETA = 0.0
DEFAULT_PLAYERS = 3


def others_mean(x: Tensor) -> Tensor:
    """``[..., N, n] -> [..., N, n]``: row i is ``(1/(N−1)) Σ_{j≠i} x_j``."""
    N = x.shape[-2]
    return (x.sum(-2, keepdim=True) - x) / (N - 1)


def player_feedback(feedback, log_pi: Tensor) -> Tensor:
    """``Pπ_j`` for every player: ``[..., N, n]`` (the player axis is moved first so it broadcasts against P)."""
    pis = log_pi.exp().movedim(-2, 0)  # (N, ..., n)
    return feedback(pis).movedim(0, -2)  # (..., N, n)


def mnpo_step(log_pi: Tensor, g: Tensor, eta: float) -> Tensor:
    """``ℓ_i' = log_softmax(mean_{j≠i} ℓ_j + η mean_{j≠i} g_j)``; ``log_pi``, ``g``: ``[..., N, n]``."""
    return torch.log_softmax(others_mean(log_pi) + eta * others_mean(g), dim=-1)


def mnpo_loss(log_pi_theta_y: Tensor, log_pi_theta_yp: Tensor, *, log_pi_opp_y: Tensor, log_pi_opp_yp: Tensor,
              target: Tensor, eta: float, reduction: str = "mean") -> Tensor:
    """MNPO's oracle loss (Eq. 14, unified units) for player i:

        E[(Δlog π_θ − (1/(N−1)) Σ_{j≠i} Δlog π_j − η·target)²],   Δf = f(y) − f(y'),

    with ``target`` an estimate of ``(1/(N−1)) Σ_{j≠i} [P(y ≻ π_j) − P(y' ≻ π_j)]`` (e.g. comparisons of y and y'
    against one sample y''_j of each opponent). Minimiser over free logits: the closed form
    (``tests/solvers/test_solvers_loss_step.py``). Caveat (docs/algorithms.md §5): the practical Eq. 15 with labels of pairs
    drawn from π_t reproduces this only when all opponents equal π_t.

    Args:
        log_pi_theta_y, log_pi_theta_yp: ``[B]`` log π_θ of y and y'.
        log_pi_opp_y, log_pi_opp_yp: ``[B, N−1]`` log-probs of y and y' under the N−1 opponents.
        target: ``[B]``.
        eta: η.
    """
    a_y = log_pi_opp_y.mean(-1)
    a_yp = log_pi_opp_yp.mean(-1)
    return mirror_loss(log_pi_theta_y, log_pi_theta_yp, a_y, a_yp, target, eta, reduction=reduction)


def mnpo(eta: float | None = None, beta: float | None = None, num_players: int = DEFAULT_PLAYERS) -> Solver:
    """MNPO (theory form) factory. ``init(log_pi_ref, log_pi0=None)`` takes ``log_pi0 [..., N, n]`` (one row per
    player; all at π_ref if ``None``); the state holds ``[..., N, n]``.

    Raises:
        ValueError: η not positive, β negative, ``num_players`` not an integer ≥ 2.
    """
    eta = check_positive(DEFAULT_ETA if eta is None else eta, "eta")
    beta = check_nonnegative(DEFAULT_BETA if beta is None else beta, "beta")
    if num_players is None:
        num_players = DEFAULT_PLAYERS
    num_players = check_players(num_players)
    N = num_players

    def init(log_pi_ref, log_pi0=None) -> SolverState:
        return init_state(log_pi_ref, log_pi0, player_axis=True, num_players=N)

    def step(state: SolverState, feedback, prox=tabular_prox) -> SolverState:
        g = player_feedback(feedback, state.log_pi)  # (..., N, n): Pπ_j for every player
        return advance(state, prox(others_mean(state.log_pi), eta, others_mean(g)))

    return Solver("mnpo", init, step, {"eta": eta, "beta": beta, "num_players": N}, mnpo_loss)
