"""Nash-MP — Nash mirror prox (Tiapkin, Calandriello, Belomestny, Moulines, Naumov, Rasul, Valko, Ménard,
arXiv 2505.19731 v1): extragradient with the KL-to-π_ref term handled *implicitly* in the prox.

    ℓ_½ = (ℓ + ηβ ℓ_ref + η Pπ)/(1+ηβ),   then   ℓ' = (ℓ + ηβ ℓ_ref + η Pπ_½)/(1+ηβ)

Symbols: ``ℓ = log π_k`` (``log_pi``), ``ℓ_½`` (``log_pi_half``), ``ℓ_ref`` (``log_pi_ref``), η (``eta``; the
paper's prox step, ``1/η`` the weight of ``KL(π‖π_k)``), β (``beta``). Each half step is the regularised best response
``argmax_π η P(π ≻ π_opp) − ηβ KL(π‖π_ref) − KL(π‖π_k)``; the paper's maximal step is η = 2.

* Step-size condition: ``0 < η ≤ 2`` (= 1/L: ``π ↦ Pπ`` is ½-Lipschitz from ℓ₁ to ℓ_∞ on the simplex).
* Claim (last iterate, linear): ``KL(π*_β‖π_k) ≤ (1+ηβ)^{−k} KL(π*_β‖π_0)`` (derived: mirror prox on a β-strongly
  monotone problem with η ≤ 1/L); at η = 2 this is the paper's ``(1+2β)^{−N/2}`` with N = 2k preference queries
  (abstract of v1), checked every 10 steps to T = 200 over random games, β ∈ [0.01, 1], η ∈ (0, 2] —
  ``tests/solvers/test_solvers_rates.py::test_egpo_nash_mp_linear_rate``. π*_β is a fixed point —
  ``tests/solvers/test_solvers_faithful.py::test_fixed_point``.
* Defaults: ``η = 2`` (the paper's), ``β = 0.01``.

Loss (each prox step as an online-IPO loss): a KL to π_ref with weight β plus a KL to π_k with weight 1/η is one KL
with weight ``β' = β + 1/η`` to the geometric mixture ``π̃_k ∝ π_ref^{β/β'} π_k^{(1/η)/β'}``; the step is online IPO
with reference π̃_k and regulariser β': see :func:`nash_mp_loss`.

>>> from nashlab.solvers import make_solver
>>> make_solver("nash-mp").hparams
{'eta': 2.0, 'beta': 0.01}
"""

from __future__ import annotations

from .core import Solver, SolverState, Tensor, advance, check_nonnegative, check_positive, init_state, mirror_loss
from .core import tabular_prox

DEFAULT_ETA = 2.0
DEFAULT_BETA = 0.01
MAX_ETA = 2.0


def prox_anchor(log_pi: Tensor, log_pi_ref: Tensor, eta: float, beta: float) -> Tensor:
    """``(ℓ + ηβ ℓ_ref)/(1+ηβ) = (β/β') ℓ_ref + ((1/η)/β') ℓ``, the log of the geometric-mixture reference π̃."""
    eb = eta * beta
    if eb == 0.0:
        return log_pi
    return (log_pi + eb * log_pi_ref) / (1.0 + eb)


def nash_mp_step(log_pi: Tensor, log_pi_ref: Tensor, feedback, eta: float, beta: float, prox=tabular_prox):
    """One Nash-MP step; returns ``(log π_{k+1}, log π_½)``, both ``[..., n]``."""
    anchor = prox_anchor(log_pi, log_pi_ref, eta, beta)
    c = eta / (1.0 + eta * beta)  # = 1/β'
    # 1) half step: prox from π_k against g(π_k)
    log_pi_half = prox(anchor, c, feedback(log_pi.exp()))
    # 2) full step: prox from π_k against g(π_½)
    log_pi_next = prox(anchor, c, feedback(log_pi_half.exp()))
    return log_pi_next, log_pi_half


def nash_mp_loss(log_pi_theta_y: Tensor, log_pi_theta_yp: Tensor, *, log_pi_ref_y: Tensor, log_pi_ref_yp: Tensor,
                 log_pi_t_y: Tensor, log_pi_t_yp: Tensor, target: Tensor, eta: float, beta: float,
                 reduction: str = "mean") -> Tensor:
    """One Nash-MP prox step as online IPO with the geometric-mixture reference and regulariser ``β' = β + 1/η``:

        E[(Δlog π_θ − Δlog π̃_k − target/β')²],   log π̃_k = (β/β') log π_ref + ((1/η)/β') log π_k

    ``log_pi_t_*`` are ``log π_k`` (the prox centre: the last full iterate, for both half steps); ``target`` estimates
    ``P(y ≻ π_opp) − P(y' ≻ π_opp)`` with ``π_opp = π_k`` (half step) or ``π_½`` (full step). Minimiser over free
    logits: the closed-form prox (``tests/solvers/test_solvers_loss_step.py``).

    Args (``[B]``): log π_θ, log π_ref, log π_k of y and y'; ``target``. eta, beta: η, β.
    """
    a_y = prox_anchor(log_pi_t_y, log_pi_ref_y, eta, beta)
    a_yp = prox_anchor(log_pi_t_yp, log_pi_ref_yp, eta, beta)
    return mirror_loss(log_pi_theta_y, log_pi_theta_yp, a_y, a_yp, target, eta / (1.0 + eta * beta),
                       reduction=reduction)


def nash_mp(eta: float | None = None, beta: float | None = None) -> Solver:
    """Nash-MP solver factory: ``0 < η ≤ 2``, ``β ≥ 0`` (defaults 2, 0.01).

    Raises:
        ValueError: naming the violated condition.
    """
    beta = check_nonnegative(DEFAULT_BETA if beta is None else beta, "beta")
    eta = check_positive(DEFAULT_ETA if eta is None else eta, "eta", upper=MAX_ETA,
                         upper_text="the Nash-MP step-size condition eta ≤ 2 (= 1/L)")

    def init(log_pi_ref, log_pi0=None) -> SolverState:
        return init_state(log_pi_ref, log_pi0)

    def step(state: SolverState, feedback, prox=tabular_prox) -> SolverState:
        log_pi_next, _ = nash_mp_step(state.log_pi, state.log_pi_ref, feedback, eta, beta, prox)
        return advance(state, log_pi_next)

    return Solver("nash-mp", init, step, {"eta": eta, "beta": beta}, nash_mp_loss)
