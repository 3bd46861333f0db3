"""The rules as losses on log-probabilities: what ``llm_bridge`` imports (and never re-implements).

Every rule's step is ``ℓ' = Σ_k w_k ℓ_k + c·g`` (anchors ``ℓ_k``, win rates ``g = Pπ_opp``). Its loss is the
generalised online-IPO regression on a pair of responses ``(y, y')`` sampled per prompt:

    L(θ) = E[( Δlog π_θ − Σ_k w_k Δℓ_k − c · target )²],   Δf = f(y) − f(y'),   target ≈ g(y) − g(y')

(:func:`mirror_loss`). Over free tabular logits, with pairs from any full-support distribution, its minimiser is exactly
the closed-form step (``tests/solvers/test_solvers_loss_step.py``). Normalising constants cancel in Δ, so sequence
log-probs (summed, or length-normalised as in EGPO/MNPO's code) can be passed as they are.

**Calling convention** (all tensors ``[B]``, one entry per pair; any float dtype/device; differentiable in the
``log_pi_theta_*`` arguments only):

* ``log_pi_theta_y, log_pi_theta_yp`` — the trained policy's log π_θ(y|x), log π_θ(y'|x) (positional);
* keyword-only snapshots: ``log_pi_ref_y/_yp`` (π_ref), ``log_pi_t_y/_yp`` (the iterate π_t the step starts from),
  and rule-specific ones (MNPO: ``log_pi_opp_y/_yp [B, N−1]``; TD-MNPO: ``log_pi_hist_y/_yp [B, H]``, ``lam``,
  ``rho``);
* ``target`` — an unbiased estimate of ``P(y ≻ π_opp) − P(y' ≻ π_opp)`` for the rule's opponent π_opp. From a judge:
  (a) win-rate estimates ``p̂(y ≻ y'') − p̂(y' ≻ y'')`` with ``y'' ~ π_opp``; (b) when ``y, y' ~ π_opp`` i.i.d.
  (self-play sampling), the label ``o(y ≻ y') − ½`` or ``P̂(y ≻ y') − ½`` (INPO Prop. 6: same minimiser);
  (c) in a tabular/language game with known P, the exact difference;
* ``eta``, ``beta`` — η and β in the units of docs/design.md §2 (papers' symbols translated in each solver's docstring);
* ``reduction`` — ``"mean"`` (scalar, default) or ``"none"`` (``[B]``).

| name | anchor ``Σ w_k ℓ_k`` | c | opponent of ``target`` |
|---|---|---|---|
| mwu, sppo | ``ℓ_t`` | η | π_t |
| inpo | ``(1−ηβ)ℓ_t + ηβ ℓ_ref`` | η | π_t |
| egpo | ``(1−ηβ)ℓ_t + ηβ ℓ_ref`` (both half steps) | η | π_t (half step), π_½ (full step, θ restored to θ_t) |
| nash-mp, mmd | ``log π̃ = (β/β')ℓ_ref + ((1/η)/β')ℓ_t``, β' = β + 1/η | 1/β' | π_t (half), π_½ (full; nash-mp) |
| nash-md | ``(1−ηβ)ℓ_t + ηβ ℓ_ref`` (= log π^μ + const) | η | the mixture π^μ |
| omwu | ``ℓ_t`` | η | optimistic: ``2Δg_t − Δg_{t−1}`` |
| mnpo | ``mean_{j≠i} ℓ_j`` | η | mean over opponents j of ``Δg_j`` |
| td-mnpo | ``ρ ℓ_ref + (1−ρ) Σ_j λ_j ℓ_{t−j}`` | η | π_t |

``get_loss(name)`` returns the function of that row.
"""

from __future__ import annotations

from .core import mirror_loss
from .egpo import egpo_loss
from .inpo import inpo_loss
from .mmd import mmd_loss
from .mnpo import mnpo_loss
from .mwu import mwu_loss
from .nash_md import nash_md_loss
from .nash_mp import nash_mp_loss
from .omwu import omwu_loss
from .registry import get_loss
from .sppo import sppo_loss, sppo_pointwise_loss
from .td_mnpo import td_mnpo_loss

__all__ = [
    "egpo_loss", "get_loss", "inpo_loss", "mirror_loss", "mmd_loss", "mnpo_loss", "mwu_loss", "nash_md_loss",
    "nash_mp_loss", "omwu_loss", "sppo_loss", "sppo_pointwise_loss", "td_mnpo_loss",
]
