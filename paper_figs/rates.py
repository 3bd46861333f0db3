"""Theoretical last-iterate rates of ``KL(π*_β ‖ π_t)`` drawn beside the measured curves.

A rate is a per-step contraction factor ``q(η, β)``: the theory says ``KL_t ≤ q^t · KL_0`` (in the unified η/β units
of docs/design.md §2, exact feedback). The solvers package may expose a solver's rate itself (a ``rate`` callable or
``contraction`` on its registry entry); otherwise this table, with its sources, is used:

- EGPO (extragradient on the KL-regularised game): ``q = 1 − ηβ`` (Zhou, Fazel, Du, arXiv 2503.08942; the form of
  Cen et al. 2021's extragradient bound for entropy-regularised matrix games; see docs/algorithms.md §3, egpo).
- Nash-MP (mirror prox): ``q = 1/(1 + ηβ)`` (Tiapkin et al., arXiv 2505.19731; docs/algorithms.md §3, nash-mp).
- MMD: ``q = 1/(1 + ηβ)`` (Sokota et al., ICLR 2023: linear convergence to the regularised equilibrium with per-step
  factor 1/(1+ηα), α = β here).

Left out on purpose, because no pure linear bound holds with a constant step:

- INPO (OMD): its Theorem 4 (Zhang et al., arXiv 2407.00617) is ``KL_{t+1} ≤ (1 − τ/η_I) KL_t + 8C²/η_I²``: the
  additive term stays. Measured on the EGPO games at β = 0.01, η = 0.8 it is visibly slower than ``(1 − ηβ)^t``
  (``runs/egpo_sims``), so drawing that line would misstate the theory.
- Nash-MD: with a constant η its fixed point is biased away from π*_β (docs/algorithms.md §3, nash-md).
- MWU/SPPO/OMWU target the β = 0 game and have no rate in ``KL(π*_β‖·)``.
"""

from __future__ import annotations

from typing import Callable

#: name -> (label, q(eta, beta)).
RATES: dict[str, tuple[str, Callable[[float, float], float]]] = {
    "egpo": ("(1−ηβ)^t", lambda eta, beta: 1.0 - eta * beta),
    "nash-mp": ("(1+ηβ)^−t", lambda eta, beta: 1.0 / (1.0 + eta * beta)),
    "mmd": ("(1+ηβ)^−t", lambda eta, beta: 1.0 / (1.0 + eta * beta)),
}


def contraction(solver: str, eta: float | None, beta: float) -> tuple[str, float] | None:
    """``(label, q)`` for a solver at (η, β), or ``None`` if no linear rate applies (β = 0, no claim, η unknown)."""
    if eta is None or not beta > 0:
        return None
    try:  # prefer the solvers package's own statement of its rate, when it exposes one
        from nashlab.solvers import SOLVERS

        spec = SOLVERS.get(solver)
        fn = getattr(spec, "rate", None) or (spec.get("rate") if isinstance(spec, dict) else None)
        if callable(fn):
            q = float(fn(eta=eta, beta=beta))
            if 0 < q < 1:
                return ("theory", q)
    except Exception:  # noqa: BLE001 — the registry's optional extras must never break a figure
        pass
    if solver not in RATES:
        return None
    label, f = RATES[solver]
    q = f(eta, beta)
    return (label, q) if 0 < q < 1 else None
