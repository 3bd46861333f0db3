"""The rules as losses on log-probabilities: what ``llm_bridge`` imports (and never re-implements).

Every rule's step is ``ℓ' = Σ_k w_k ℓ_k + c·g`` (anchors ``ℓ_k``, win rates ``g = Σ_m v_m Pπ_{o_m}``), declared once
(:class:`~.rule.Rule`). Its loss is derived from that declaration (:class:`~.rule.RuleLoss`): the generalised
online-IPO regression on a pair of responses ``(y, y')`` sampled per prompt,

    L(θ) = E[( Δlog π_θ − Σ_k w_k Δℓ_k − c · target )²],   Δf = f(y) − f(y'),   target ≈ g(y) − g(y')

(:func:`mirror_loss`), and its pointwise form ``(log π_θ(y) − Σ_k w_k ℓ_k(y) − c·g(y) + log Z)²``. Over free tabular
logits, with pairs from any full-support distribution, the minimiser of either is exactly the closed-form step
(``nashlab verify`` checks it for any rule). Normalising constants cancel in Δ, so sequence log-probs (summed, or
length-normalised as in EGPO/MNPO's code) can be passed as they are.

**Calling convention**: ``loss(log_pi_theta_y, log_pi_theta_yp, anchors_y, anchors_yp, target, reduction)`` with
``[B]`` tensors, ``anchors_*`` mappings from a source (``"iterate"``, ``"ref"``, ``"past:j"``, ``"others"``) to the
``[B]`` log-probs of the responses under that policy, and ``target`` an unbiased estimate of
``g(y) − g(y')``. From a judge: (a) ``p̂(y ≻ y'') − p̂(y' ≻ y'')`` with ``y'' ~ π_opp``; (b) when ``y, y' ~ π_opp``
i.i.d. (self-play), the label ``o(y ≻ y') − ½`` (INPO Prop. 6: same minimiser); (c) with a known P, the exact value.

| name | anchor ``Σ w_k ℓ_k`` | c | opponents of ``g`` |
|---|---|---|---|
| mwu, sppo | ``ℓ_t`` | η | π_t |
| inpo | ``(1−ηβ)ℓ_t + ηβ ℓ_ref`` | η | π_t |
| egpo | ``(1−ηβ)ℓ_t + ηβ ℓ_ref`` (both half steps) | η | π_t (half step), π_½ (full step, θ restored to θ_t) |
| nash-mp, mmd | ``(ℓ_t + ηβ ℓ_ref)/(1+ηβ)`` | η/(1+ηβ) | π_t (half), π_½ (full; nash-mp) |
| nash-md | ``(1−ηβ)ℓ_t + ηβ ℓ_ref`` (= log π^μ + const) | η | the mixture π^μ |
| omwu | ``ℓ_t`` | η | ``2·π_t − 1·π_{t−1}`` (optimistic) |
| mnpo | ``mean_{j≠i} ℓ_j`` | η | the mean over the other players |
| td-mnpo | ``ρ ℓ_ref + (1−ρ) Σ_j λ_j ℓ_{t−j}`` | η | π_t |

``get_loss(name, **hparams)`` returns the derived loss of a rule.
"""

from __future__ import annotations

from .core import mirror_loss
from .registry import get_loss
from .rule import RuleLoss
from .sppo import sppo_pointwise_loss

__all__ = ["RuleLoss", "get_loss", "mirror_loss", "sppo_pointwise_loss"]
