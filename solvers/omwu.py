"""OMWU — optimistic multiplicative weights; tabular ONPO (Zhang et al., "Optimistic Nash policy optimisation",
arXiv 2502.16852) and the rule of Chen, Zhou, Zhang, Fazel, Du (arXiv 2512.24818).

    OMWU / ONPO: ℓ' = ℓ + η(2Pπ_t − Pπ_{t−1}),   with π_{−1} = π_0

Symbols: ``ℓ = log π_t`` (``log_pi``), ``Pπ_t`` (``g``), ``Pπ_{t−1}`` (``g_prev``, carried in ``state.memory``), η
(``eta``; ONPO's η, a true step on the win rate). No π_ref: the game is the original one (β recorded for metrics).

* Step-size condition: ``0 < η ≤ 1/8`` (ONPO Thm. 3).
* Claims (original game):
  - average iterate: ``DG_0(π̄_T) ≤ 4√D/T`` (ONPO Thm. 2, η = min{½, √D}) — not tested separately;
  - last iterate: when the NE has full support, ``KL(π*‖π_t)`` and ``DG_0(π_t)`` converge to 0, linearly after a
    burn-in (ONPO Thm. 3 for a unique NE; Chen et al. without uniqueness), with instance-dependent constants (on
    cyclic n = 5 at η = 1/8 the KL shrinks only ~3× per 15,000 steps). Checked: at η = 1/8 the KL decreases over the
    checkpoints T/4 → T/2 → T (T = 8,000) on cyclic and full-support random games while MWU's grows on the same game
    — ``tests/solvers/test_solvers_rates.py::test_omwu_last_iterate_full_support``.
* Default: ``η = 0.1``.

>>> from nashlab.solvers import make_solver
>>> make_solver("omwu").hparams
{'eta': 0.1, 'beta': 0.0}
"""

from __future__ import annotations

import torch

from .core import Solver, SolverState, Tensor, advance, check_nonnegative, check_positive, init_state, mirror_loss
from .core import tabular_prox

DEFAULT_ETA = 0.1
DEFAULT_BETA = 0.0
MAX_ETA = 0.125


def omwu_step(log_pi: Tensor, g: Tensor, g_prev: Tensor, eta: float) -> Tensor:
    """``log_softmax(ℓ + η(2g − g_prev))`` (all ``[..., n]``)."""
    return torch.log_softmax(log_pi + eta * (2.0 * g - g_prev), dim=-1)


def omwu_loss(log_pi_theta_y: Tensor, log_pi_theta_yp: Tensor, *, log_pi_t_y: Tensor, log_pi_t_yp: Tensor,
              target: Tensor, eta: float, reduction: str = "mean") -> Tensor:
    """OMWU as a pairwise loss: ``E[(Δlog π_θ − Δlog π_t − η·target)²]`` with the *optimistic* target

        target ≈ (2P(y≻π_t) − P(y≻π_{t−1})) − (2P(y'≻π_t) − P(y'≻π_{t−1})),

    e.g. ``2(p̂(y≻y''_t) − p̂(y'≻y''_t)) − (p̂(y≻y''_{t−1}) − p̂(y'≻y''_{t−1}))`` with ``y''_s ~ π_s``. Minimiser over
    free logits: the closed-form step (``tests/solvers/test_solvers_loss_step.py``). (ONPO's practical version splits
    this into two ``(g − η/2)²`` losses with anchors π'_t and π'_{t+1}; in exact arithmetic they compose to this.)

    Args (``[B]``): log π_θ, log π_t of y and y'; ``target``. eta: η.
    """
    return mirror_loss(log_pi_theta_y, log_pi_theta_yp, log_pi_t_y, log_pi_t_yp, target, eta, reduction=reduction)


def omwu(eta: float | None = None, beta: float | None = None) -> Solver:
    """OMWU / ONPO solver factory: ``0 < η ≤ 1/8`` (default 0.1); β ≥ 0 recorded only.

    Raises:
        ValueError: naming the violated condition.
    """
    eta = check_positive(DEFAULT_ETA if eta is None else eta, "eta", upper=MAX_ETA,
                         upper_text="the OMWU/ONPO step-size condition eta ≤ 1/8")
    beta = check_nonnegative(DEFAULT_BETA if beta is None else beta, "beta")

    def init(log_pi_ref, log_pi0=None) -> SolverState:
        return init_state(log_pi_ref, log_pi0)  # memory () until the first step: π_{−1} = π_0

    def step(state: SolverState, feedback, prox=tabular_prox) -> SolverState:
        g = feedback(state.log_pi.exp())
        g_prev = state.memory[0] if state.memory else g  # π_{−1} = π_0 ⇒ g_{−1} = g_0
        return advance(state, prox(state.log_pi, eta, 2.0 * g - g_prev), memory=(g,))

    return Solver("omwu", init, step, {"eta": eta, "beta": beta}, omwu_loss)
