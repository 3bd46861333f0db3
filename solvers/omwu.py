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

import math

from .rule import Claim, Phase, Rule, anchor, opponent

RULE = Rule(
    name="omwu",
    update="ℓ' = ℓ + η(2Pπ_t − Pπ_{t−1})",
    fixed_point="π*_0 (when it has full support)",
    paper="Zhang et al., arXiv 2502.16852 (ONPO); Chen, Zhou, Zhang, Fazel, Du, arXiv 2512.24818",
    phases=(Phase(anchors=(anchor("iterate", 1.0),), step=lambda hp: hp["eta"],
                  opponents=(opponent("iterate", 2.0), opponent("past:1", -1.0))),),
    claim=Claim("average", "DG_0(π̄_T) ≤ 2D/(η(T+1)), D = max_y log 1/π_0(y) (derived: optimistic Hedge's "
                "RVU regret bound, Syrgkanis et al. 2015, with ‖Pπ − Pπ'‖_∞ ≤ ½‖π − π'‖_1 and η ≤ 1/8)",
                bound=lambda hp, D, T: 2 * D / (hp["eta"] * (T + 1))),
    eta_default=0.1, beta_default=0.0, beta_used=False,
    eta_max=lambda hp: 0.125, eta_max_text="the OMWU/ONPO step-size condition eta ≤ 1/8",
)
