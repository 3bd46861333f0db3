"""MWU / Hedge (multiplicative weights) in self-play: ``ℓ' = ℓ + η Pπ``.

The baseline no-regret rule. It ignores π_ref (the game it plays is the original one, β = 0).

* Update (docs/design.md §2): ``ℓ' = ℓ + η Pπ`` — ``ℓ = log π_t`` (``log_pi``), ``P π`` the feedback ``g``, ``η`` (``eta``).
* Step-size condition: any ``η > 0`` (the rule is well defined); the regret bound below is tuned by ``η``.
* Claims:
  - average iterate: with rewards in [0, 1] Hedge's regret after ``T+1`` rounds is ``≤ ln n / η + η (T+1) / 8``, and in
    self-play ``DG_0(π̄_T) = 2·regret/(T+1)``, so ``DG_0(π̄_T) ≤ 2 ln n / (η (T+1)) + η / 4``
    (``tests/solvers/test_solvers_rates.py::test_mwu_sppo_cyclic_last_diverges_average_converges``);
  - last iterate: does NOT converge on a cyclic game from a non-equilibrium start; ``KL(π*‖π_t)`` is non-decreasing
    when π* has full support (Bailey & Piliouras 2018) (same test).
* Default: ``η = 0.1``. β is accepted and recorded (metrics use it) but the rule does not use it.

Reference: Freund & Schapire, "Adaptive game playing using multiplicative weights", GEB 1999.

>>> import torch
>>> from nashlab.solvers import make_solver, exact_feedback
>>> P = torch.tensor([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]], dtype=torch.float64)
>>> s = make_solver("mwu", eta=0.1); st = s.init(torch.log(torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)))
>>> st = s.step(st, exact_feedback(P)); round(float(st.log_pi.exp().sum()), 12), st.t
(1.0, 1)
"""

from __future__ import annotations

import math

from .rule import Claim, Phase, Rule, anchor, opponent

RULE = Rule(
    name="mwu",
    update="ℓ' = ℓ + η Pπ",
    fixed_point="none (the last iterate cycles; the average iterate → π*_0)",
    paper="Freund & Schapire 1999 (Hedge); Bailey & Piliouras 2018 (last iterate)",
    phases=(Phase(anchors=(anchor("iterate", 1.0),), step=lambda hp: hp["eta"], opponents=(opponent("iterate"),)),),
    claim=Claim("average", "DG_0(π̄_T) ≤ 2D/(η(T+1)) + η/4, D = max_y log 1/π_0(y) (Hedge's regret bound, "
                "rewards in [0, 1]; D = ln n from the uniform start)",
                bound=lambda hp, D, T: 2 * D / (hp["eta"] * (T + 1)) + hp["eta"] / 4),
    eta_default=0.1, beta_default=0.0, beta_used=False, noise_schedule="inverse-sqrt-t",
)
