"""EGPO — extragradient preference optimisation (Zhou, Fazel, Du, arXiv 2503.08942, COLM 2025).

Two OMD half steps from the same point π_t; the second uses the win rates of the half iterate:

    ℓ_½ = (1−ηβ)ℓ + ηβ ℓ_ref + η Pπ,   then   ℓ' = (1−ηβ)ℓ + ηβ ℓ_ref + η Pπ_½

Symbols: ``ℓ = log π_t`` (``log_pi``), ``ℓ_ref = log π_ref`` (``log_pi_ref``), ``ℓ_½`` (``log_pi_half``), η
(``eta``), β (``beta``). Paper/code translation: the EGPO simulations run SGD of learning rate ``lr`` on tabular logits
of the online-IPO loss with ``n`` actions; one SGD step is this OMD step with ``ηβ = 4·lr/n`` (so ``β = 0.01,
lr = 0.02, n = 10`` is ``η = 0.8``; ``β = 0.1, lr = 0.1`` is ``η = 0.4``).

* Step-size condition: ``0 < η ≤ 1/(β + 1)``. This is Cen, Wei, Chi (2021)'s ``η ≤ 1/(τ + 2‖A‖_∞)`` for
  the payoff ``A = P − ½`` (shifting P by a constant does not change the rule; ``‖P − ½‖_∞ ≤ ½``), which also gives
  ``ηβ < 1``.
* Claim (last iterate, linear): ``KL(π*_β‖π_t) ≤ (1−ηβ)^t KL(π*_β‖π_0)`` (the bound of Cen, Wei, Chi 2021,
  "Fast policy extragradient methods for competitive games with entropy regularization", arXiv 2105.15186,
  for their PU method, which this rule is; EGPO states last-iterate linear convergence for
  KL-regularised games), checked every 10 steps to T = 200 over random games, β ∈ [0.01, 1], η up to the limit —
  ``tests/solvers/test_solvers_rates.py::test_egpo_nash_mp_linear_rate``.
* π*_β is a fixed point (``ℓ* = ℓ_ref + Pπ*/β`` gives ``ℓ_½ = ℓ' = ℓ*``) —
  ``tests/solvers/test_solvers_faithful.py::test_fixed_point``.
* Defaults: ``η = 0.8`` (the paper's β = 0.01 setting), ``β = 0.01``.

Loss (one half step = one online-IPO step; the extragradient restores θ_t and steps again with the opponent at θ_½):
see :func:`egpo_loss`.

>>> import torch
>>> from nashlab.solvers import make_solver, exact_feedback
>>> P = torch.tensor([[0.5, 0.9, 0.2], [0.1, 0.5, 0.7], [0.8, 0.3, 0.5]], dtype=torch.float64)
>>> s = make_solver("egpo", eta=0.8, beta=0.1); st = s.init(torch.log(torch.full((3,), 1 / 3, dtype=torch.float64)))
>>> for _ in range(300): st = s.step(st, exact_feedback(P))
>>> from nashlab.games import reg_duality_gap
>>> float(reg_duality_gap(P, st.log_pi.exp(), torch.full((3,), 1 / 3, dtype=torch.float64), 0.1)) < 1e-9
True
"""

from __future__ import annotations

from .inpo import OMD_ANCHORS
from .rule import Claim, Phase, Rule, opponent

RULE = Rule(
    name="egpo",
    update="ℓ_½ = (1−ηβ)ℓ + ηβ ℓ_ref + η Pπ, ℓ' = (1−ηβ)ℓ + ηβ ℓ_ref + η Pπ_½",
    fixed_point="π*_β",
    paper="Zhou, Fazel, Du, arXiv 2503.08942 (COLM 2025)",
    phases=(Phase(anchors=OMD_ANCHORS, step=lambda hp: hp["eta"], opponents=(opponent("iterate"),)),
            Phase(anchors=OMD_ANCHORS, step=lambda hp: hp["eta"], opponents=(opponent("half"),))),
    claim=Claim("linear", "KL(π*_β‖π_t) ≤ (1−ηβ)^t KL(π*_β‖π_0) (Cen, Wei, Chi 2021, arXiv 2105.15186, PU method)",
                rate=lambda hp: 1.0 - hp["eta"] * hp["beta"]),
    eta_default=0.8, beta_default=0.01,
    eta_max=lambda hp: 1.0 / (hp["beta"] + 1.0), eta_max_text="the EGPO step-size condition eta ≤ 1/(beta + 1)",
)
