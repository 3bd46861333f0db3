"""EGPO — extragradient preference optimisation (Zhou, Fazel, Du, arXiv 2503.08942, COLM 2025).

Two OMD half steps from the same point π_t; the second uses the win rates of the half iterate:

    ℓ_½ = (1−ηβ)ℓ + ηβ ℓ_ref + η Pπ,   then   ℓ' = (1−ηβ)ℓ + ηβ ℓ_ref + η Pπ_½

Symbols: ``ℓ = log π_t`` (``log_pi``), ``ℓ_ref = log π_ref`` (``log_pi_ref``), ``ℓ_½`` (``log_pi_half``), η
(``eta``), β (``beta``). Paper/code translation: the EGPO simulations run SGD of learning rate ``lr`` on tabular logits
of the online-IPO loss with ``n`` actions; one SGD step is this OMD step with ``ηβ = 4·lr/n`` (so ``β = 0.01,
lr = 0.02, n = 10`` is ``η = 0.8``; ``β = 0.1, lr = 0.1`` is ``η = 0.4``).

* Step-size condition: ``0 < η ≤ 1/(β + 1)``. This is Cen, Wei, Chi (2021)'s ``η ≤ 1/(τ + 2‖A‖_∞)`` for
  the payoff ``A = P − ½`` (shifting P by a constant does not change the rule; ``‖P − ½‖_∞ ≤ ½``), which also gives
  ``ηβ < 1``.
* Claim (last iterate, linear): ``KL(π*_β‖π_t) ≤ (1−ηβ)^t KL(π*_β‖π_0)`` (the bound of Cen, Wei, Chi 2021,
  "Fast policy extragradient methods for competitive games with entropy regularization", arXiv 2105.15186,
  for their PU method, which this rule is; EGPO states last-iterate linear convergence for
  KL-regularised games), checked every 10 steps to T = 200 over random games, β ∈ [0.01, 1], η up to the limit —
  ``tests/solvers/test_solvers_rates.py::test_egpo_nash_mp_linear_rate``.
* π*_β is a fixed point (``ℓ* = ℓ_ref + Pπ*/β`` gives ``ℓ_½ = ℓ' = ℓ*``) —
  ``tests/solvers/test_solvers_faithful.py::test_fixed_point``.
* Defaults: ``η = 0.8`` (the paper's β = 0.01 setting), ``β = 0.01``.

Loss (one half step = one online-IPO step; the extragradient restores θ_t and steps again with the opponent at θ_½):
see :func:`egpo_loss`.

>>> import torch
>>> from nashlab.solvers import make_solver, exact_feedback
>>> P = torch.tensor([[0.5, 0.9, 0.2], [0.1, 0.5, 0.7], [0.8, 0.3, 0.5]], dtype=torch.float64)
>>> s = make_solver("egpo", eta=0.8, beta=0.1); st = s.init(torch.log(torch.full((3,), 1 / 3, dtype=torch.float64)))
>>> for _ in range(300): st = s.step(st, exact_feedback(P))
>>> from nashlab.games import reg_duality_gap
>>> float(reg_duality_gap(P, st.log_pi.exp(), torch.full((3,), 1 / 3, dtype=torch.float64), 0.1)) < 1e-9
True
"""

from __future__ import annotations

import torch

from .core import Solver, SolverState, Tensor, advance, check_nonnegative, check_positive, init_state, mirror_loss
from .core import tabular_prox

DEFAULT_ETA = 0.8
DEFAULT_BETA = 0.01


def max_eta(beta: float) -> float:
    """The step-size limit ``1/(β + 1)``."""
    return 1.0 / (beta + 1.0)


def omd_anchor(log_pi: Tensor, log_pi_ref: Tensor, eta: float, beta: float) -> Tensor:
    """``(1−ηβ)ℓ + ηβ ℓ_ref`` (the linearised-KL anchor shared by INPO, EGPO and Nash-MD's mixture)."""
    eb = eta * beta
    if eb == 0.0:
        return log_pi
    return torch.lerp(log_pi, log_pi_ref, eb)  # one fused kernel: ℓ + ηβ(ℓ_ref − ℓ)


def egpo_step(log_pi: Tensor, log_pi_ref: Tensor, feedback, eta: float, beta: float, prox=tabular_prox):
    """One EGPO step. Returns ``(log π_{t+1}, log π_½)``, both ``[..., n]`` and normalised.

    Args:
        log_pi: ``[..., n]`` ℓ_t.
        log_pi_ref: ``[..., n]`` ℓ_ref.
        feedback: ``pi -> Pπ``.
        eta, beta: η, β.
        prox: how a mirror step is realised (closed form by default).
    """
    anchor = omd_anchor(log_pi, log_pi_ref, eta, beta)
    # 1) half step with g(π_t)
    log_pi_half = prox(anchor, eta, feedback(log_pi.exp()))
    # 2) full step from π_t with g(π_½)
    log_pi_next = prox(anchor, eta, feedback(log_pi_half.exp()))
    return log_pi_next, log_pi_half


def egpo_loss(log_pi_theta_y: Tensor, log_pi_theta_yp: Tensor, *, log_pi_ref_y: Tensor, log_pi_ref_yp: Tensor,
              log_pi_t_y: Tensor, log_pi_t_yp: Tensor, target: Tensor, eta: float, beta: float,
              reduction: str = "mean") -> Tensor:
    """The online-IPO loss of one EGPO half step (the same loss as INPO's):

        E[(Δlog π_θ − ηβ Δlog π_ref − (1−ηβ) Δlog π_t − η·target)²],   Δf = f(y) − f(y')

    ``target`` estimates ``P(y ≻ π_opp) − P(y' ≻ π_opp)``: ``π_opp = π_t`` in the half step, ``π_opp = π_½`` in the
    full step (θ restored to θ_t in between; both steps anchor at π_t). The EGPO code's loss
    ``(Δlog π_θ/π_ref − (p̂(y≻y'') − p̂(y'≻y''))/β)²`` has, at θ = θ_t, residual ``1/(ηβ)`` times this one's; its one
    SGD step of size ``lr`` on tabular logits is the closed-form step with ``ηβ = 4·lr/n``. Minimiser of this loss over
    free logits: the closed-form half step
    (``tests/solvers/test_solvers_loss_step.py``).

    Args (all ``[B]``): log-probs of y and y' under π_θ (trained), π_ref, π_t (snapshot); ``target``.
        eta, beta: η, β. reduction: ``"mean"`` or ``"none"``.
    """
    a_y = omd_anchor(log_pi_t_y, log_pi_ref_y, eta, beta)
    a_yp = omd_anchor(log_pi_t_yp, log_pi_ref_yp, eta, beta)
    return mirror_loss(log_pi_theta_y, log_pi_theta_yp, a_y, a_yp, target, eta, reduction=reduction)


def egpo(eta: float | None = None, beta: float | None = None) -> Solver:
    """EGPO solver factory.

    Args:
        eta: η with ``0 < η ≤ 1/(β+1)`` (default 0.8).
        beta: β ≥ 0 (default 0.01).

    Raises:
        ValueError: naming the violated condition.
    """
    beta = check_nonnegative(DEFAULT_BETA if beta is None else beta, "beta")
    eta = check_positive(DEFAULT_ETA if eta is None else eta, "eta", upper=max_eta(beta),
                         upper_text="the EGPO step-size condition eta ≤ 1/(beta + 1)")

    def init(log_pi_ref, log_pi0=None) -> SolverState:
        return init_state(log_pi_ref, log_pi0)

    def step(state: SolverState, feedback, prox=tabular_prox) -> SolverState:
        log_pi_next, _ = egpo_step(state.log_pi, state.log_pi_ref, feedback, eta, beta, prox)
        return advance(state, log_pi_next)

    return Solver("egpo", init, step, {"eta": eta, "beta": beta}, egpo_loss)
