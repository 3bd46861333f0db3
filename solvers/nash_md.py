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

from .inpo import OMD_ANCHORS
from .rule import Claim, Phase, Rule, opponent

RULE = Rule(
    name="nash-md",
    update="π^μ ∝ π^{1−ηβ} π_ref^{ηβ}, ℓ' = log π^μ + η Pπ^μ",
    fixed_point="π̃_η ≠ π*_β (a bias that shrinks with η)",
    paper="Munos et al., arXiv 2312.00886 (ICML 2024)",
    phases=(Phase(anchors=OMD_ANCHORS, step=lambda hp: hp["eta"], opponents=(opponent("mixture"),)),),
    claim=Claim("floor", "with a constant η the last iterate settles at π̃_η ∝ π_ref exp(Pπ̃^μ/β), DG_β(π̃_η) = O(η²) "
                "> 0 (derived); KL(π*_β‖π_T) = O(1/(β²T)) needs η_t ∝ 1/(βt) (Munos et al. Thm. 1)"),
    eta_default=0.1, beta_default=0.1, beta_positive=True,
    eta_max=lambda hp: 1.0 / hp["beta"],
    eta_max_text="the Nash-MD condition eta·beta ≤ 1 (a mixture exponent in [0, 1])",
)
