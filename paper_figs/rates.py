"""Theoretical last-iterate rates of ``KL(π*_β ‖ π_t)`` drawn beside the measured curves.

A rate is a per-step contraction factor ``q(η, β)``: a rule whose declaration (``nashlab.solvers.Rule``) claims
``KL(π*_β‖π_t) ≤ C · q^t · KL(π*_β‖π_0)`` (claim kind ``linear``) gets the line ``KL_0 · q^t``; the rule's module
docstring gives the source of its rate (EGPO ``1 − ηβ``, Nash-MP and MMD ``1/(1 + ηβ)``, INPO and TD-MNPO derived
from their linearisation). Rules that declare no linear rate (Nash-MD's biased floor; MWU, SPPO, OMWU and MNPO, whose
claims are about the average iterate) get no line, and neither does a rate that is not below 1 at the run's (η, β).
"""

from __future__ import annotations

def contraction(solver: str, eta: float | None, beta: float, **options) -> tuple[str, float] | None:
    """``(label, q)`` of a rule's declared linear claim ``KL(π*_β‖π_t) ≤ C q^t`` at (η, β), or ``None`` when it
    declares none (or β = 0, or η is unknown, or ``q ≥ 1`` there)."""
    if eta is None or not beta > 0:
        return None
    from nashlab.solvers import load_rule

    try:
        rule = load_rule(solver)
        claim = rule.claim
        if claim.kind != "linear":
            return None
        q = float(claim.rate(rule.hparams(eta, beta, **options)))
    except (ValueError, OSError, KeyError):
        return None
    return (f"q = {q:.4g}", q) if 0 < q < 1 else None
