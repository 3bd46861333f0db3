"""MMD — magnetic mirror descent (Sokota et al., "A unified approach to reinforcement learning, quantal response
equilibria, and two-player zero-sum games", arXiv 2206.05825, ICLR 2023), magnet = π_ref.

    MMD: ℓ' = (ℓ + ηβ ℓ_ref + η Pπ)/(1+ηβ)

Symbols: ``ℓ = log π_t`` (``log_pi``), ``ℓ_ref`` (``log_pi_ref``; the paper's magnet ρ), η (``eta``; the paper's
stepsize), β (``beta``; the paper's regularisation α). It is one Nash-MP half step, taken as the full step.
open_spiel's ``mmd_dilated`` on a normal-form game is this rule with a uniform magnet and payoff ``A``.

* Step-size condition: ``0 < η ≤ 4β`` (the paper's ``η ≤ α/L²`` with ``L = ½``), so β > 0.
* Claim (last iterate, linear; Sokota et al. Thm. 3.4, MMD to the α-QRE, which here is π*_β):
  ``KL(π*_β‖π_t) ≤ (1+ηβ)^{−t} KL(π*_β‖π_0)``, checked down to 1e-6 for β ∈ [0.1, 1] and η ∈ [β, 4β] —
  ``tests/solvers/test_solvers_rates.py::test_inpo_mmd_converge_small_eta``. π*_β is a fixed point —
  ``tests/solvers/test_solvers_faithful.py::test_fixed_point``. Equal to open_spiel's MMD step by step —
  ``tests/solvers/test_solvers_openspiel.py::test_mmd_matches_openspiel``.
* Defaults: ``β = 0.1``, ``η = 0.4`` (= 4β).

>>> from nashlab.solvers import make_solver
>>> make_solver("mmd").hparams
{'eta': 0.4, 'beta': 0.1}
"""

from __future__ import annotations

from .core import Solver, SolverState, Tensor, advance, check_positive, init_state
from .core import tabular_prox
from .nash_mp import nash_mp_loss, prox_anchor

DEFAULT_ETA = 0.4
DEFAULT_BETA = 0.1


def mmd_step(log_pi: Tensor, log_pi_ref: Tensor, g: Tensor, eta: float, beta: float) -> Tensor:
    """``log_softmax((ℓ + ηβ ℓ_ref + η g)/(1+ηβ))`` (all ``[..., n]``)."""
    return tabular_prox(prox_anchor(log_pi, log_pi_ref, eta, beta), eta / (1.0 + eta * beta), g)


def mmd_loss(log_pi_theta_y: Tensor, log_pi_theta_yp: Tensor, *, log_pi_ref_y: Tensor, log_pi_ref_yp: Tensor,
             log_pi_t_y: Tensor, log_pi_t_yp: Tensor, target: Tensor, eta: float, beta: float,
             reduction: str = "mean") -> Tensor:
    """MMD's step as online IPO with reference ``π̃_t ∝ π_ref^{β/β'} π_t^{(1/η)/β'}``, ``β' = β + 1/η`` (the same loss
    as one Nash-MP prox step, :func:`nashlab.solvers.nash_mp.nash_mp_loss`); ``target`` estimates
    ``P(y ≻ π_t) − P(y' ≻ π_t)``. Args (``[B]``) as there."""
    return nash_mp_loss(log_pi_theta_y, log_pi_theta_yp, log_pi_ref_y=log_pi_ref_y, log_pi_ref_yp=log_pi_ref_yp,
                        log_pi_t_y=log_pi_t_y, log_pi_t_yp=log_pi_t_yp, target=target, eta=eta, beta=beta,
                        reduction=reduction)


def mmd(eta: float | None = None, beta: float | None = None) -> Solver:
    """MMD solver factory: ``β > 0``, ``0 < η ≤ 4β`` (defaults β = 0.1, η = 0.4).

    Raises:
        ValueError: naming the violated condition.
    """
    beta = check_positive(DEFAULT_BETA if beta is None else beta, "beta")
    eta = check_positive(DEFAULT_ETA if eta is None else eta, "eta", upper=4.0 * beta,
                         upper_text="the MMD step-size condition eta ≤ 4·beta (alpha/L² with L = 1/2)")

    def init(log_pi_ref, log_pi0=None) -> SolverState:
        return init_state(log_pi_ref, log_pi0)

    def step(state: SolverState, feedback, prox=tabular_prox) -> SolverState:
        g = feedback(state.log_pi.exp())
        anchor = prox_anchor(state.log_pi, state.log_pi_ref, eta, beta)
        return advance(state, prox(anchor, eta / (1.0 + eta * beta), g))

    return Solver("mmd", init, step, {"eta": eta, "beta": beta}, mmd_loss)
