"""Optimistic INPO: INPO's anchor with OMWU's optimistic win rate — a rule that is not in the library, declared in the
user's own file and used everywhere a built-in name is (``nashlab verify / solve / run / llm train``) as
``experiments/examples/rules/optimistic_inpo.py:OPTIMISTIC_INPO``.

    ℓ' = (1−ηβ)ℓ + ηβ ℓ_ref + η(2Pπ_t − Pπ_{t−1}),   with π_{−1} = π_0

Symbols: ``ℓ = log π_t``, ``ℓ_ref = log π_ref``, ``Pπ_t`` the win rates against the current iterate, ``Pπ_{t−1}``
against the previous one (the tabular step reuses the win rates it measured one step earlier, so it costs one query
per step; an LLM trainer samples π_{t−1} again). η is the step, β the KL weight.

* Fixed point: π*_β (at ``π_t = π_{t−1} = π*_β`` the optimistic term is ``Pπ*_β`` and the step is INPO's, whose fixed
  point is π*_β).
* Conditions: ``ηβ ≤ 1`` (a convex anchor) and ``η ≤ 1/2`` (a bound on the optimistic term chosen for this example
  and checked by ``nashlab verify`` at the limit, not proven; OMWU's proven condition at β = 0 is ``η ≤ 1/8``).
* Claim (checked by ``nashlab verify``, not proven here): the last iterate converges linearly,
  ``KL(π*_β‖π_t) ≤ 2 (1 − ηβ/2)^t KL(π*_β‖π_0)``.
"""

from nashlab.solvers import Claim, Phase, Rule, anchor, opponent

OPTIMISTIC_INPO = Rule(
    name="optimistic-inpo",
    update="ℓ' = (1−ηβ)ℓ + ηβ ℓ_ref + η(2Pπ_t − Pπ_{t−1})",
    fixed_point="π*_β",
    paper="INPO (Zhang et al., arXiv 2407.00617) with ONPO's optimism (Zhang et al., arXiv 2502.16852)",
    phases=(
        Phase(anchors=(anchor("iterate", lambda hp: 1.0 - hp["eta"] * hp["beta"]),
                       anchor("ref", lambda hp: hp["eta"] * hp["beta"])),
              step=lambda hp: hp["eta"],
              opponents=(opponent("iterate", 2.0), opponent("past:1", -1.0))),
    ),
    claim=Claim("linear", "KL(π*_β‖π_t) ≤ 2 (1 − ηβ/2)^t KL(π*_β‖π_0) (checked on the verify suite, not proven)",
                rate=lambda hp: 1.0 - hp["eta"] * hp["beta"] / 2.0, constant=2.0),
    eta_default=0.1, beta_default=0.1, beta_positive=True,
    eta_max=lambda hp: min(1.0 / hp["beta"], 0.5),
    eta_max_text="eta·beta ≤ 1 and eta ≤ 1/2",
)
