"""SPPO — self-play preference optimisation (Wu, Sun, Yuan, Ji, Yang, Gu, arXiv 2405.00675); tabularly Hedge.

    MWU / SPPO: ℓ' = ℓ + η Pπ

Symbols: ``ℓ = log π_t`` (``log_pi``), ``Pπ`` the win rates ``P(y ≻ π_t)`` (``g``), η (``eta``). Paper/code
translation: SPPO's code has ``beta`` (DPO-style, "eta = 1/beta"): **η = 1/beta**, e.g. the default ``beta = 1e-3``
is η = 1000 (for sequence log-probs). There is no π_ref in the rule (β here is recorded for metrics only).

* Step-size condition: any ``η > 0``.
* Claims (SPPO Thm. 4.1, average iterate only): ``DG_0(π̄_T) ≤ 2 ln n/(η(T+1)) + η/4`` (Hedge's regret bound,
  rewards in [0, 1]); the last iterate does not converge on cyclic games —
  ``tests/solvers/test_solvers_rates.py::test_mwu_sppo_cyclic_last_diverges_average_converges``.
* Default: ``η = 0.1``.

Losses: :func:`sppo_loss` (pairwise, exact minimiser) and :func:`sppo_pointwise_loss` (the paper's square loss
``(log π_θ(y)/π_t(y) − η(P̂(y ≻ π_t) − ½))²``, whose ``−½`` approximates ``log Z_t/η``).

>>> import torch
>>> from nashlab.solvers import make_solver
>>> make_solver("sppo").hparams["eta"]
0.1
"""

from __future__ import annotations

from .core import Solver, SolverState, Tensor, advance, check_nonnegative, check_positive, init_state, mirror_loss
from .core import tabular_prox
from .mwu import DEFAULT_BETA, DEFAULT_ETA, mwu_step  # noqa: F401  (the closed form is Hedge's)

sppo_step = mwu_step


def sppo_loss(log_pi_theta_y: Tensor, log_pi_theta_yp: Tensor, *, log_pi_t_y: Tensor, log_pi_t_yp: Tensor,
              target: Tensor, eta: float, reduction: str = "mean") -> Tensor:
    """SPPO as a pairwise loss: ``E[(log π_θ(y)/π_t(y) − log π_θ(y')/π_t(y') − η·target)²]``.

    ``target`` estimates ``P(y ≻ π_t) − P(y' ≻ π_t)`` (SPPO's code: mean PairRM win rates over K samples of π_t, i.e.
    ``P̂_w − P̂_l`` for its pair (y_w, y_l)). This is the difference of the two pointwise SPPO residuals, so the unknown
    ``log Z_t`` cancels; minimiser over free logits: ``ℓ_t + η Pπ_t`` (``tests/solvers/test_solvers_loss_step.py``).

    Args (``[B]``): log π_θ and log π_t of y and y'; ``target``. eta: η = 1/``beta`` of SPPO's code.
    """
    return mirror_loss(log_pi_theta_y, log_pi_theta_yp, log_pi_t_y, log_pi_t_yp, target, eta, reduction=reduction)


def sppo_pointwise_loss(log_pi_theta_y: Tensor, *, log_pi_t_y: Tensor, win_rate: Tensor, eta: float,
                        reduction: str = "mean") -> Tensor:
    """The paper's pointwise loss ``E_y[(log π_θ(y)/π_t(y) − η(P̂(y ≻ π_t) − ½))²]`` (SPPO Eq. 3.6; MNPO Table 9).

    Over free *unnormalised* logits its minimiser is ``ℓ_t + η(Pπ_t − ½)``, whose normalisation is the Hedge step
    (``tests/solvers/test_solvers_loss_step.py::test_sppo_pointwise``); for a normalised policy the ``−½`` stands in for
    ``log Z_t/η``, an approximation.

    Args:
        log_pi_theta_y, log_pi_t_y: ``[B]``.
        win_rate: ``[B]`` estimate of ``P(y ≻ π_t)``.
        eta: η.
    """
    r = log_pi_theta_y - log_pi_t_y - eta * (win_rate - 0.5)
    sq = r * r
    return sq.mean() if reduction == "mean" else sq


def sppo(eta: float | None = None, beta: float | None = None) -> Solver:
    """SPPO (tabular Hedge) solver factory. ``eta`` > 0 (default 0.1); ``beta`` ≥ 0 recorded only."""
    eta = check_positive(DEFAULT_ETA if eta is None else eta, "eta")
    beta = check_nonnegative(DEFAULT_BETA if beta is None else beta, "beta")

    def init(log_pi_ref, log_pi0=None) -> SolverState:
        return init_state(log_pi_ref, log_pi0)

    def step(state: SolverState, feedback, prox=tabular_prox) -> SolverState:
        g = feedback(state.log_pi.exp())
        return advance(state, prox(state.log_pi, eta, g))

    return Solver("sppo", init, step, {"eta": eta, "beta": beta}, sppo_loss)
