"""Nash-MD — Nash mirror descent (Munos et al., "Nash learning from human feedback", arXiv 2312.00886, ICML 2024).

    Nash-MD: π^μ ∝ π^{1−ηβ} π_ref^{ηβ},   ℓ' = log π^μ + η Pπ^μ

Symbols: ``π = π_t`` (``log_pi``), the geometric mixture ``π^μ`` (``log_pi_mix``), ``π_ref`` (``log_pi_ref``), η
(``eta``), β (``beta``). Paper translation: the paper's regulariser τ is β, its mixture exponent ``ητ`` is ``ηβ`` (the
opponent is the *mixture*, not π_t); TRL's ``mixture_coef`` α plays the role of ``ηβ``.

* Step-size condition: ``0 < ηβ ≤ 1``.
* Claims:
  - with decaying ``η_t ∝ 1/(βt)``: ``KL(π*_β‖π_T) = O(1/(β²T))`` (Munos et al. Thm. 1; not tested: this class runs
    a constant η);
  - **bias floor with constant η** (derived): the fixed point of the rule is ``π̃_η ∝ π_ref · exp(Pπ̃^μ/β)`` with
    ``π̃^μ ∝ π̃^{1−ηβ} π_ref^{ηβ}``, which differs from π*_β (``∝ π_ref exp(Pπ*/β)``) unless π*_β = π_ref. The last
    iterate therefore stalls at ``DG_β(π̃_η) > 0``; the bias in the logits is O(η), so the gap floor is O(η²) and
    shrinks as η → 0 — ``tests/solvers/test_solvers_rates.py::test_nash_md_bias_floor``.
* Defaults: ``η = 0.1``, ``β = 0.1``.

>>> from nashlab.solvers import make_solver
>>> make_solver("nash-md").hparams
{'eta': 0.1, 'beta': 0.1}
"""

from __future__ import annotations

import torch

from .core import Solver, SolverState, Tensor, advance, check_positive, init_state, mirror_loss
from .core import tabular_prox
from .egpo import omd_anchor

DEFAULT_ETA = 0.1
DEFAULT_BETA = 0.1


def mixture(log_pi: Tensor, log_pi_ref: Tensor, eta: float, beta: float) -> Tensor:
    """``log π^μ``: normalised geometric mixture ``π^{1−ηβ} π_ref^{ηβ}`` (``[..., n]``)."""
    return torch.log_softmax(omd_anchor(log_pi, log_pi_ref, eta, beta), dim=-1)


def nash_md_step(log_pi: Tensor, log_pi_ref: Tensor, feedback, eta: float, beta: float, prox=tabular_prox) -> Tensor:
    """One Nash-MD step: ``log_softmax(log π^μ + η P π^μ)``; returns ``[..., n]``."""
    log_pi_mix = mixture(log_pi, log_pi_ref, eta, beta)
    return prox(log_pi_mix, eta, feedback(log_pi_mix.exp()))


def nash_md_loss(log_pi_theta_y: Tensor, log_pi_theta_yp: Tensor, *, log_pi_ref_y: Tensor, log_pi_ref_yp: Tensor,
                 log_pi_t_y: Tensor, log_pi_t_yp: Tensor, target: Tensor, eta: float, beta: float,
                 reduction: str = "mean") -> Tensor:
    """Nash-MD's step as a regression loss (anchor = the mixture, opponent = the mixture):

        E[(Δlog π_θ − (1−ηβ) Δlog π_t − ηβ Δlog π_ref − η·target)²],   Δf = f(y) − f(y'),

    where ``target`` estimates ``P(y ≻ π^μ) − P(y' ≻ π^μ)``: the comparison responses ``y''`` are sampled from the
    mixture ``π^μ ∝ π_t^{1−ηβ} π_ref^{ηβ}`` (as Nash-MD-PG samples its opponent). Minimiser over free logits: the
    closed-form step (``tests/solvers/test_solvers_loss_step.py``). (Nash-MD-PG's policy-gradient form differs in the
    optimiser, not the fixed point of the step.)

    Args (``[B]``): log π_θ, log π_ref, log π_t of y and y'; ``target``. eta, beta: η, β.
    """
    a_y = omd_anchor(log_pi_t_y, log_pi_ref_y, eta, beta)
    a_yp = omd_anchor(log_pi_t_yp, log_pi_ref_yp, eta, beta)
    return mirror_loss(log_pi_theta_y, log_pi_theta_yp, a_y, a_yp, target, eta, reduction=reduction)


def nash_md(eta: float | None = None, beta: float | None = None) -> Solver:
    """Nash-MD solver factory (constant step): ``η > 0``, ``β > 0``, ``ηβ ≤ 1`` (defaults 0.1, 0.1). β = 0 is refused:
    the rule targets π*_β, and at β = 0 its mixture is π itself, i.e. plain MWU (use ``mwu``).

    Raises:
        ValueError: naming the violated condition.
    """
    beta = check_positive(DEFAULT_BETA if beta is None else beta, "beta")
    eta = check_positive(DEFAULT_ETA if eta is None else eta, "eta", upper=1.0 / beta,
                         upper_text="the Nash-MD condition eta·beta ≤ 1 (a mixture exponent in [0, 1])")

    def init(log_pi_ref, log_pi0=None) -> SolverState:
        return init_state(log_pi_ref, log_pi0)

    def step(state: SolverState, feedback, prox=tabular_prox) -> SolverState:
        return advance(state, nash_md_step(state.log_pi, state.log_pi_ref, feedback, eta, beta, prox))

    return Solver("nash-md", init, step, {"eta": eta, "beta": beta}, nash_md_loss)
