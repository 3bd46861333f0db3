"""INPO — iterative Nash policy optimisation (Zhang et al., arXiv 2407.00617, ICLR 2025): online mirror descent.

    INPO (OMD): ℓ' = (1−ηβ)ℓ + ηβ ℓ_ref + η Pπ

Symbols: ``ℓ = log π_t`` (``log_pi``), ``ℓ_ref`` (``log_pi_ref``), ``Pπ`` (``g``), η (``eta``), β (``beta``).
Paper translation (INPO Eq. 5: ``π_{t+1} ∝ exp(P(y≻π_t)/η_I) π_ref^{τ/η_I} π_t^{1−τ/η_I}``): **η = 1/η_I, β = τ**
(so ``ηβ = τ/η_I``); the paper's ``η_I = 0.005, τ = η_I/3`` is ``η = 200, ηβ = 1/3``.

* Step-size condition: ``0 < ηβ ≤ 1`` (the paper's ``τ < η_I``; at ``ηβ = 1`` the anchor is π_ref alone).
* Claims:
  - π*_β is a fixed point — ``tests/solvers/test_solvers_faithful.py::test_fixed_point``;
  - the paper's Thm. 4: ``KL(π*‖π_{t+1}) ≤ (1 − ηβ) KL(π*‖π_t) + 8C²η²`` (a floor for constant η, C a bound on
    ``|log π/π_ref|``); derived here for exact feedback: the linearisation at π*_β has eigenvalues
    ``1 − ηβ + iηλ`` with λ real, ``|λ| ≤ 1`` (eigenvalues of ``(P − ½)(diag π − ππᵀ)``, an ℓ_∞ bound), so the last
    iterate converges linearly to π*_β, without a floor, for ``η < 2β/(1 + β²)``; at ``η = β/2`` the modulus² is
    ``≤ 1 − β²/2`` and we check ``KL(π*_β‖π_t) ≤ (1 − β²/2)^t KL(π*_β‖π_0)`` down to 1e-6, β ∈ [0.1, 1] —
    ``tests/solvers/test_solvers_rates.py::test_inpo_mmd_converge_small_eta``.
* Defaults: ``η = 0.1``, ``β = 0.1``.

>>> import torch
>>> from nashlab.solvers import make_solver
>>> make_solver("inpo", eta=0.1, beta=0.1).hparams
{'eta': 0.1, 'beta': 0.1}
"""

from __future__ import annotations

from .core import Solver, SolverState, Tensor, advance, check_positive, init_state, mirror_loss
from .core import tabular_prox
from .egpo import omd_anchor

DEFAULT_ETA = 0.1
DEFAULT_BETA = 0.1


def inpo_step(log_pi: Tensor, log_pi_ref: Tensor, g: Tensor, eta: float, beta: float) -> Tensor:
    """``log_softmax((1−ηβ)ℓ + ηβ ℓ_ref + η g)`` (all ``[..., n]``)."""
    return tabular_prox(omd_anchor(log_pi, log_pi_ref, eta, beta), eta, g)


def inpo_loss(log_pi_theta_y: Tensor, log_pi_theta_yp: Tensor, *, log_pi_ref_y: Tensor, log_pi_ref_yp: Tensor,
              log_pi_t_y: Tensor, log_pi_t_yp: Tensor, target: Tensor, eta: float, beta: float,
              reduction: str = "mean") -> Tensor:
    """INPO's loss (Eq. 8, in unified units): ``E[(h_t(y, y') − η·target)²]`` with

        h_t(y, y') = Δlog π_θ − ηβ Δlog π_ref − (1−ηβ) Δlog π_t,   Δf = f(y) − f(y').

    ``target`` estimates ``P(y ≻ π_t) − P(y' ≻ π_t)``. With ``y, y' ~ π_t`` i.i.d. the label ``o(y ≻ y') − ½`` is a valid
    target (INPO Prop. 6): ordering the pair as (y_w, y_l) gives the paper's ``(h_t(y_w, y_l) − 1/(2η_I))²``.
    Minimiser over free logits: the closed-form step (``tests/solvers/test_solvers_loss_step.py``).

    Args (``[B]``): log π_θ, log π_ref, log π_t of y and y'; ``target``. eta, beta: η, β.
    """
    a_y = omd_anchor(log_pi_t_y, log_pi_ref_y, eta, beta)
    a_yp = omd_anchor(log_pi_t_yp, log_pi_ref_yp, eta, beta)
    return mirror_loss(log_pi_theta_y, log_pi_theta_yp, a_y, a_yp, target, eta, reduction=reduction)


def inpo(eta: float | None = None, beta: float | None = None) -> Solver:
    """INPO solver factory: ``η > 0``, ``β > 0`` with ``ηβ ≤ 1`` (defaults 0.1, 0.1). β = 0 is refused: the rule
    targets π*_β, and at β = 0 it is plain MWU (use ``mwu``).

    Raises:
        ValueError: naming the violated condition.
    """
    beta = check_positive(DEFAULT_BETA if beta is None else beta, "beta")
    eta = check_positive(DEFAULT_ETA if eta is None else eta, "eta", upper=1.0 / beta,
                         upper_text="the INPO condition eta·beta ≤ 1 (tau ≤ eta_I)")

    def init(log_pi_ref, log_pi0=None) -> SolverState:
        return init_state(log_pi_ref, log_pi0)

    def step(state: SolverState, feedback, prox=tabular_prox) -> SolverState:
        g = feedback(state.log_pi.exp())
        return advance(state, prox(omd_anchor(state.log_pi, state.log_pi_ref, eta, beta), eta, g))

    return Solver("inpo", init, step, {"eta": eta, "beta": beta}, inpo_loss)
