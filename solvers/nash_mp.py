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

from .rule import Claim, Phase, Rule, anchor, opponent

#: ``(ℓ + ηβ ℓ_ref)/(1+ηβ)``: the log of the geometric-mixture reference π̃ (also MMD's anchor).
PROX_ANCHORS = (anchor("iterate", lambda hp: 1.0 / (1.0 + hp["eta"] * hp["beta"])),
           anchor("ref", lambda hp: hp["eta"] * hp["beta"] / (1.0 + hp["eta"] * hp["beta"])))


def prox_step(hp) -> float:
    """``η/(1+ηβ) = 1/β'``, β' = β + 1/η."""
    return hp["eta"] / (1.0 + hp["eta"] * hp["beta"])


RULE = Rule(
    name="nash-mp",
    update="ℓ_½ = (ℓ + ηβ ℓ_ref + η Pπ)/(1+ηβ), ℓ' = (ℓ + ηβ ℓ_ref + η Pπ_½)/(1+ηβ)",
    fixed_point="π*_β",
    paper="Tiapkin et al., arXiv 2505.19731",
    phases=(Phase(anchors=PROX_ANCHORS, step=prox_step, opponents=(opponent("iterate"),)),
            Phase(anchors=PROX_ANCHORS, step=prox_step, opponents=(opponent("half"),))),
    claim=Claim("linear", "KL(π*_β‖π_k) ≤ (1+ηβ)^(−k) KL(π*_β‖π_0) (derived: mirror prox on a β-strongly monotone "
                "problem with η ≤ 1/L; at η = 2 the paper's (1+2β)^(−N/2))",
                rate=lambda hp: 1.0 / (1.0 + hp["eta"] * hp["beta"])),
    eta_default=2.0, beta_default=0.01,
    eta_max=lambda hp: 2.0, eta_max_text="the Nash-MP step-size condition eta ≤ 2 (= 1/L)",
)
