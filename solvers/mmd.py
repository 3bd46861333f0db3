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

from .nash_mp import PROX_ANCHORS, prox_step
from .rule import Claim, Phase, Rule, opponent

RULE = Rule(
    name="mmd",
    update="ℓ' = (ℓ + ηβ ℓ_ref + η Pπ)/(1+ηβ)",
    fixed_point="π*_β",
    paper="Sokota et al., arXiv 2206.05825 (ICLR 2023)",
    phases=(Phase(anchors=PROX_ANCHORS, step=prox_step, opponents=(opponent("iterate"),)),),
    claim=Claim("linear", "KL(π*_β‖π_t) ≤ (1+ηβ)^(−t) KL(π*_β‖π_0) (Sokota et al. Thm. 3.4)",
                rate=lambda hp: 1.0 / (1.0 + hp["eta"] * hp["beta"])),
    eta_default=0.4, beta_default=0.1, beta_positive=True,
    eta_max=lambda hp: 4.0 * hp["beta"],
    eta_max_text="the MMD step-size condition eta ≤ 4·beta (alpha/L² with L = 1/2)",
)
