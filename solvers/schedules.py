"""Step-size schedules ``η_t`` for every rule, declared with the rule, usable by the tabular solver, sweeps and any
other driver (an LLM trainer only needs :func:`step_size`).

A schedule is named by a spec string (one name everywhere: ``--schedule`` on the CLI, ``schedule`` in a TOML sweep,
``hparams.schedule`` in JSON):

* ``constant`` — ``η_t = η_0`` (the default; every exact-feedback claim in the rules' docstrings uses it).
* ``inverse-t`` — ``η_t = η_0 / (1 + β η_0 t)``: ``η_t ≈ 1/(βt)`` for large ``t``, the step that turns the
  ``(1 − η β)`` contraction of a β-regularised rule into an ``O(log t / t)`` decay of ``E[KL(π*_β‖π_t)]`` under
  unbiased noisy win rates.
* ``inverse-sqrt-t`` — ``η_t = η_0 / √(1 + t)``: the anytime step of Hedge (MWU/SPPO) for the ``O(1/√T)``
  average-iterate gap.
* ``theory`` — the schedule the rule's theory prescribes under noise (the rule's declared ``noise_schedule``):

  - β-regularised rules (egpo, nash-mp, inpo, mmd, nash-md, td-mnpo, mnpo, omwu with β > 0): ``η_t = η_0 / (1 +
    β η_0 t / 2)``, i.e. ``η_t ≈ 2/(βt)``. With the per-step contraction ``E[D_{t+1}] ≤ (1 − η_t β) E[D_t] + η_t² σ²``
    (``D`` the KL, ``σ² ≤ 1/(8M)`` from the variance of the estimated win rates: the noise-ball recursion derived in
    ``tests/solvers/test_solvers_noise.py``), the step ``2/(β(t + t_0))``, ``t_0 = 2/(βη_0)``, gives
    ``E[D_t] ≤ max(t_0 D_0, 4σ²/β²)/(t + t_0)`` by induction: ``O(1/t)`` without the log factor of ``1/(βt)`` (the
    classic strongly-convex SGD step).
  - Hedge rules (mwu, sppo; β = 0): ``inverse-sqrt-t``.

Decreasing schedules never exceed ``η_0``, so a rule's step-size condition checked at ``η_0`` holds at every ``t``.

>>> [round(step_size("inverse-t", 0.5, 0.1, t), 4) for t in (0, 10, 100)]
[0.5, 0.3333, 0.0833]
"""

from __future__ import annotations

import math
from typing import Callable

from .core import Solver, SolverState

SCHEDULES = ("constant", "inverse-t", "inverse-sqrt-t", "theory")

def theory_kind(solver) -> str:
    """The schedule a rule's theory prescribes under noisy feedback: its declaration's ``noise_schedule``."""
    from .registry import load_rule

    try:
        return load_rule(solver).noise_schedule
    except (ValueError, OSError):
        return "inverse-sqrt-t"


def parse_schedule(spec) -> str:
    """A schedule name after checking it (one of :data:`SCHEDULES`)."""
    if spec not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; got {spec!r}")
    return spec


def resolve(spec: str, solver: str, beta: float) -> str:
    """The concrete schedule of ``spec`` for ``solver``: ``theory`` becomes ``inverse-sqrt-t`` (Hedge rules, or any rule
    at β = 0, where there is no strong monotonicity) or ``strongly-monotone`` (``η_0/(1 + βη_0 t/2)``)."""
    spec = parse_schedule(spec)
    if spec != "theory":
        return spec
    kind = theory_kind(solver)
    return "inverse-sqrt-t" if beta <= 0 else kind


def step_size(spec: str, eta0: float, beta: float, t: int, solver: str | None = None) -> float:
    """``η_t`` of schedule ``spec`` at step ``t ≥ 0`` (``solver`` resolves ``theory``; see the module docstring).

    ``inverse-t`` at β = 0 is constant (``1 + β η_0 t = 1``): such a rule has no strong monotonicity to exploit.
    """
    kind = resolve(spec, solver or "", beta) if spec == "theory" else parse_schedule(spec)
    if kind == "constant":
        return eta0
    if kind == "inverse-t":
        return eta0 / (1.0 + beta * eta0 * t)
    if kind == "strongly-monotone":
        return eta0 / (1.0 + 0.5 * beta * eta0 * t)
    return eta0 / math.sqrt(1.0 + t)  # inverse-sqrt-t


def scheduled(name: str, schedule: str, make: Callable[..., Solver], eta: float | None, beta: float | None,
              **options) -> Solver:
    """A :class:`Solver` whose step ``t`` runs rule ``name`` with ``η_t`` of ``schedule`` (β and options fixed).

    ``make(name, eta=..., beta=..., **options)`` builds (and validates) the rule; it is built once at ``η_0`` and
    rebuilt whenever ``η_t`` changes (the rules' states do not depend on η, so a state carries over). TD-MNPO's
    ``rho`` is ``η β``: it follows ``η_t`` (β is what the schedule keeps fixed).
    """
    schedule = parse_schedule(schedule)
    base = make(name, eta=eta, beta=beta, **options)
    if schedule == "constant":
        return base
    eta0, beta0 = base.hparams["eta"], base.hparams["beta"]
    opts = {k: v for k, v in options.items() if k != "rho"}
    cache: dict[float, Solver] = {eta0: base}

    def step(state: SolverState, feedback, *args, **kwargs) -> SolverState:
        eta_t = step_size(schedule, eta0, beta0, state.t, solver=name)
        rule = cache.get(eta_t)
        if rule is None:
            cache.clear()  # a decreasing schedule never returns to an old η: keep one rule
            rule = cache[eta_t] = make(name, eta=eta_t, beta=beta0, **opts)
        return rule.step(state, feedback, *args, **kwargs)

    hparams = dict(base.hparams, schedule=schedule)
    return Solver(name, base.init, step, hparams, base.loss)
