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

from .rule import Claim, Phase, Rule, anchor, opponent

#: ``(1−ηβ)ℓ + ηβ ℓ_ref``, the linearised-KL anchor (also EGPO's and Nash-MD's).
OMD_ANCHORS = (anchor("iterate", lambda hp: 1.0 - hp["eta"] * hp["beta"]), anchor("ref", lambda hp: hp["eta"] * hp["beta"]))

RULE = Rule(
    name="inpo",
    update="ℓ' = (1−ηβ)ℓ + ηβ ℓ_ref + η Pπ",
    fixed_point="π*_β",
    paper="Zhang et al., arXiv 2407.00617 (ICLR 2025)",
    phases=(Phase(anchors=OMD_ANCHORS, step=lambda hp: hp["eta"], opponents=(opponent("iterate"),)),),
    claim=Claim("linear", "KL(π*_β‖π_t) ≤ 2 ((1−ηβ)² + η²)^t KL(π*_β‖π_0) (derived: the linearisation at π*_β has "
                "eigenvalues 1 − ηβ + iηλ, |λ| ≤ 1; a rate below 1 when η < 2β/(1+β²))",
                rate=lambda hp: (1.0 - hp["eta"] * hp["beta"]) ** 2 + hp["eta"] ** 2, constant=2.0),
    eta_default=0.1, beta_default=0.1, beta_positive=True,
    eta_max=lambda hp: 1.0 / hp["beta"], eta_max_text="the INPO condition eta·beta ≤ 1 (tau ≤ eta_I)",
)
