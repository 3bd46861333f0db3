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

from .core import check_players, check_positive
from .rule import Claim, Option, Phase, Rule, anchor, opponent

DEFAULT_ETA = 0.1
DEFAULT_BETA = 0.1
DEFAULT_PLAYERS = 3


def resolve(eta, beta, options) -> dict:
    """History ``H = num_players − 1``; ``beta`` (ρ = ηβ) or ``rho`` (β = ρ/η), not both inconsistently;
    ``lam``: H non-negative weights summing to 1 (default uniform)."""
    eta = check_positive(DEFAULT_ETA if eta is None else eta, "eta")
    num_players = options.get("num_players")
    num_players = check_players(DEFAULT_PLAYERS if num_players is None else num_players)
    H = num_players - 1
    rho, lam = options.get("rho"), options.get("lam")
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
    return {"eta": eta, "beta": beta, "num_players": num_players, "rho": rho, "lam": list(lam)}


def anchors(hp) -> list:
    """``ρ ℓ_ref + (1−ρ) Σ_{j<H} λ_j ℓ_{t−j}`` (ℓ_{t−0} is the iterate)."""
    lam = hp["lam"]
    return [anchor("ref", hp["rho"]), anchor("iterate", (1.0 - hp["rho"]) * lam[0]),
            *(anchor(f"past:{j}", (1.0 - hp["rho"]) * lam[j]) for j in range(1, len(lam)))]


RULE = Rule(
    name="td-mnpo",
    update="ℓ' = ρ ℓ_ref + (1−ρ) Σ_j λ_j ℓ_{t−j} + η Pπ_t",
    fixed_point="π*_β, β = ρ/η",
    paper="Wu et al., arXiv 2509.23102 (Eq. 17; code smiles724/MNPO)",
    phases=(Phase(anchors=anchors, step=lambda hp: hp["eta"], opponents=(opponent("iterate"),)),),
    claim=Claim("linear", "KL(π*_β‖π_t) ≤ 2 (1−ρ)^(t/H) KL(π*_β‖π_0) for η ≤ β (derived for H = 1, where it is "
                "INPO's linearisation, whose rate (1−ρ)² + η² ≤ 1 − ρ when η ≤ β; for H > 1 the anchor recursion "
                "δ' = (1−ρ) Σ_j λ_j δ_{t−j} has spectral radius ≤ (1−ρ)^(1/H)); no rate is claimed for η > β",
                rate=lambda hp: (1.0 - hp["rho"]) ** (1.0 / len(hp["lam"])) if hp["eta"] <= hp["beta"] else math.inf,
                constant=2.0),
    eta_default=DEFAULT_ETA, beta_default=DEFAULT_BETA, beta_positive=True,
    eta_max=lambda hp: 1.0 / hp["beta"], eta_max_text="rho = eta·beta ≤ 1",
    options=(Option("num_players", DEFAULT_PLAYERS), Option("lam", None), Option("rho", None)),
    resolve=resolve,
)
