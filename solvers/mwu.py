"""MWU / Hedge (multiplicative weights) in self-play: ``ℓ' = ℓ + η Pπ``.

The baseline no-regret rule. It ignores π_ref (the game it plays is the original one, β = 0).

* Update (docs/design.md §2): ``ℓ' = ℓ + η Pπ`` — ``ℓ = log π_t`` (``log_pi``), ``P π`` the feedback ``g``, ``η`` (``eta``).
* Step-size condition: any ``η > 0`` (the rule is well defined); the regret bound below is tuned by ``η``.
* Claims:
  - average iterate: with rewards in [0, 1] Hedge's regret after ``T+1`` rounds is ``≤ ln n / η + η (T+1) / 8``, and in
    self-play ``DG_0(π̄_T) = 2·regret/(T+1)``, so ``DG_0(π̄_T) ≤ 2 ln n / (η (T+1)) + η / 4``
    (``tests/solvers/test_solvers_rates.py::test_mwu_sppo_cyclic_last_diverges_average_converges``);
  - last iterate: does NOT converge on a cyclic game from a non-equilibrium start; ``KL(π*‖π_t)`` is non-decreasing
    when π* has full support (Bailey & Piliouras 2018) (same test).
* Default: ``η = 0.1``. β is accepted and recorded (metrics use it) but the rule does not use it.

Reference: Freund & Schapire, "Adaptive game playing using multiplicative weights", GEB 1999.

>>> import torch
>>> from nashlab.solvers import make_solver, exact_feedback
>>> P = torch.tensor([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]], dtype=torch.float64)
>>> s = make_solver("mwu", eta=0.1); st = s.init(torch.log(torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)))
>>> st = s.step(st, exact_feedback(P)); round(float(st.log_pi.exp().sum()), 12), st.t
(1.0, 1)
"""

from __future__ import annotations

import torch

from .core import Solver, SolverState, Tensor, advance, check_nonnegative, check_positive, init_state, mirror_loss
from .core import tabular_prox

DEFAULT_ETA = 0.1
DEFAULT_BETA = 0.0


def mwu_step(log_pi: Tensor, g: Tensor, eta: float) -> Tensor:
    """One Hedge step in closed form: ``log π' = log_softmax(ℓ + η g)``.

    Args:
        log_pi: ``[..., n]`` ℓ = log π_t.
        g: ``[..., n]`` win rates ``Pπ_t``.
        eta: η > 0.

    Returns:
        ``[..., n]`` normalised log π_{t+1}.
    """
    return torch.log_softmax(log_pi + eta * g, dim=-1)


def mwu_loss(log_pi_theta_y: Tensor, log_pi_theta_yp: Tensor, *, log_pi_t_y: Tensor, log_pi_t_yp: Tensor,
             target: Tensor, eta: float, reduction: str = "mean") -> Tensor:
    """Hedge as a pairwise loss: ``E[(log π_θ(y)/π_t(y) − log π_θ(y')/π_t(y') − η·target)²]``.

    ``target`` estimates ``P(y ≻ π_t) − P(y' ≻ π_t)`` (e.g. ``p̂(y≻y'') − p̂(y'≻y'')`` with ``y'' ~ π_t``, or the
    label ``o(y≻y') − ½`` when ``y, y' ~ π_t`` i.i.d.). The minimiser over free tabular logits is ``ℓ_t + η Pπ_t``
    (``tests/solvers/test_solvers_loss_step.py``).

    Args:
        log_pi_theta_y, log_pi_theta_yp: ``[B]`` log π_θ (trained) of responses y, y'.
        log_pi_t_y, log_pi_t_yp: ``[B]`` log π_t (snapshot).
        target: ``[B]`` win-rate difference estimate.
        eta: η.
        reduction: ``"mean"`` or ``"none"``.
    """
    return mirror_loss(log_pi_theta_y, log_pi_theta_yp, log_pi_t_y, log_pi_t_yp, target, eta, reduction=reduction)


def mwu(eta: float | None = None, beta: float | None = None) -> Solver:
    """Hedge / MWU solver factory.

    Args:
        eta: η > 0 (default 0.1).
        beta: β ≥ 0, recorded only (default 0).

    Raises:
        ValueError: η not a finite positive number, β negative or NaN.
    """
    eta = check_positive(DEFAULT_ETA if eta is None else eta, "eta")
    beta = check_nonnegative(DEFAULT_BETA if beta is None else beta, "beta")

    def init(log_pi_ref, log_pi0=None) -> SolverState:
        return init_state(log_pi_ref, log_pi0)

    def step(state: SolverState, feedback, prox=tabular_prox) -> SolverState:
        g = feedback(state.log_pi.exp())  # 1) win rates against the current iterate
        return advance(state, prox(state.log_pi, eta, g))  # 2) ℓ' = ℓ + η g

    return Solver("mwu", init, step, {"eta": eta, "beta": beta}, mwu_loss)
