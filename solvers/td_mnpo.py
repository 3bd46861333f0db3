"""TD-MNPO — time-dependent MNPO (Wu et al., arXiv 2509.23102 v3, Eq. 17; code ``smiles724/MNPO``), tabular form.

The opponents are π_ref and the last iterates:

    ℓ' = ρ ℓ_ref + (1−ρ) Σ_j λ_j ℓ_{t−j} + η Pπ_t,   j = 0 … H−1

Symbols: ``ℓ_{t−j}`` (the current ``log_pi`` and ``state.memory``), ``ℓ_ref`` (``log_pi_ref``), λ (``lam``, H ≥ 1
weights summing to 1), ρ (``rho``), η (``eta``). The fixed point is ``π ∝ π_ref exp(Pπ/β)`` with **β = ρ/η**: π*_β.
Code translation: ``mnpo_loss`` uses ``ratio`` = ρ and ``eta`` = 1/η (target ``1/(2·eta)`` = η/2); its
``max_history_t = 2`` is H = 2, i.e. ``num_players = H + 1 = 3`` (Eq. 17 sums j = 0 … n−2). With H = 1 this is INPO.
Missing history at the start is filled with π_0.

* Conditions: ``η > 0``, ``0 < ρ ≤ 1`` (β = ρ/η, or give ``rho`` directly), ``λ_j ≥ 0`` with ``Σλ = 1``.
* Claim: the last iterate converges to π*_β, β = ρ/η, for small η (with λ = e_0 this is INPO, see its docstring).
  Rate (derived): the anchor recursion ``δ' = (1−ρ) Σ_j λ_j δ_{t−j}`` has spectral radius ``≤ (1−ρ)^{1/H}``; at
  ``η = β/2`` we check ``KL(π*_β‖π_T) ≤ 2 (1−ρ)^{T/H} KL(π*_β‖π_0)`` down to 1e-6 for random λ and H = 1–3 —
  ``tests/solvers/test_solvers_rates.py::test_td_mnpo_last_iterate``; π*_β is a fixed point —
  ``tests/solvers/test_solvers_faithful.py::test_fixed_point``.
* Defaults: ``η = 0.1``, ``β = 0.1`` (ρ = 0.01), ``num_players = 3`` (H = 2), ``λ = (½, ½)`` (what the code runs).

>>> from nashlab.solvers import make_solver
>>> make_solver("td-mnpo", eta=0.1, rho=0.05).hparams["beta"]
0.5
"""

from __future__ import annotations

import math

import torch

from .core import Solver, SolverState, Tensor, advance, check_positive, combine, init_state, mirror_loss
from .core import check_players, tabular_prox

DEFAULT_ETA = 0.1
DEFAULT_BETA = 0.1
DEFAULT_PLAYERS = 3


def td_mnpo_anchor(log_pi_ref: Tensor, history: tuple, rho: float, lam: tuple) -> Tensor:
    """``ρ ℓ_ref + (1−ρ) Σ_j λ_j ℓ_{t−j}`` with ``history = (ℓ_t, ℓ_{t−1}, …)``."""
    return combine([(rho, log_pi_ref)] + [((1.0 - rho) * w, h) for w, h in zip(lam, history)])


def td_mnpo_loss(log_pi_theta_y: Tensor, log_pi_theta_yp: Tensor, *, log_pi_ref_y: Tensor, log_pi_ref_yp: Tensor,
                 log_pi_hist_y: Tensor, log_pi_hist_yp: Tensor, lam, rho: float, target: Tensor, eta: float,
                 reduction: str = "mean") -> Tensor:
    """TD-MNPO's loss (Eq. 17 with the squared distance; the code's ``mnpo_loss``, unified units):

        E[(Δlog π_θ − ρ Δlog π_ref − (1−ρ) Σ_j λ_j Δlog π_{t−j} − η·target)²],   Δf = f(y) − f(y')

    ``target`` estimates ``P(y ≻ π_t) − P(y' ≻ π_t)``; with ``y, y' ~ π_t`` the label ``o(y≻y') − ½`` (the code's
    ordered pair with target ``1/(2·eta)``). Minimiser over free logits: the closed form
    (``tests/solvers/test_solvers_loss_step.py``).

    Args:
        log_pi_theta_y, log_pi_theta_yp: ``[B]``.
        log_pi_ref_y, log_pi_ref_yp: ``[B]``.
        log_pi_hist_y, log_pi_hist_yp: ``[B, H]``, column j is ``log π_{t−j}``.
        lam: ``H`` weights (sequence or tensor), ρ: ``rho``, target ``[B]``, η: ``eta``.
    """
    lam_t = torch.as_tensor(lam, dtype=log_pi_hist_y.dtype, device=log_pi_hist_y.device)
    a_y = rho * log_pi_ref_y + (1.0 - rho) * (log_pi_hist_y * lam_t).sum(-1)
    a_yp = rho * log_pi_ref_yp + (1.0 - rho) * (log_pi_hist_yp * lam_t).sum(-1)
    return mirror_loss(log_pi_theta_y, log_pi_theta_yp, a_y, a_yp, target, eta, reduction=reduction)


def td_mnpo(eta: float | None = None, beta: float | None = None, num_players: int = DEFAULT_PLAYERS, lam=None,
            rho: float | None = None) -> Solver:
    """TD-MNPO factory: history ``H = num_players − 1``; give ``beta`` (ρ = ηβ) or ``rho`` (β = ρ/η), not both
    inconsistently. The state holds one policy ``[..., n]`` and ``H − 1`` past iterates in ``memory``.

    Raises:
        ValueError: naming the violated condition.
    """
    eta = check_positive(DEFAULT_ETA if eta is None else eta, "eta")
    if num_players is None:
        num_players = DEFAULT_PLAYERS
    num_players = check_players(num_players)
    H = num_players - 1
    if rho is not None:
        rho = check_positive(rho, "rho", upper=1.0, upper_text="0 < rho ≤ 1")
        if beta is not None and not math.isclose(float(beta) * eta, rho, rel_tol=1e-9):
            raise ValueError(f"rho must equal eta·beta; got rho={rho:g}, eta·beta={float(beta) * eta:g}")
        beta = rho / eta
    else:
        beta = check_positive(DEFAULT_BETA if beta is None else beta, "beta", upper=1.0 / eta,
                              upper_text="rho = eta·beta ≤ 1")
        rho = eta * beta
    if lam is None:
        lam = (1.0 / H,) * H
    try:
        lam = tuple(float(x) for x in lam)
    except (TypeError, ValueError):
        raise ValueError(f"lam must be a sequence of {H} numbers; got {lam!r}") from None
    if len(lam) != H or not all(x >= 0 and math.isfinite(x) for x in lam) or not abs(sum(lam) - 1.0) <= 1e-9:
        raise ValueError(f"lam must be {H} = num_players − 1 non-negative weights summing to 1; got {lam!r}")

    def init(log_pi_ref, log_pi0=None) -> SolverState:
        s = init_state(log_pi_ref, log_pi0)
        return s._replace(memory=(s.log_pi,) * (H - 1))  # ℓ_{t−1}, …, ℓ_{t−H+1}, filled with ℓ_0

    def step(state: SolverState, feedback, prox=tabular_prox) -> SolverState:
        g = feedback(state.log_pi.exp())
        history = (state.log_pi,) + state.memory  # ℓ_t, ℓ_{t−1}, …
        anchor = td_mnpo_anchor(state.log_pi_ref, history, rho, lam)
        return advance(state, prox(anchor, eta, g), memory=history[: H - 1])

    hp = {"eta": eta, "beta": beta, "num_players": num_players, "rho": rho, "lam": list(lam)}
    return Solver("td-mnpo", init, step, hp, td_mnpo_loss)
