"""The registry: solver name -> spec (factory, loss, whether it plays n players). Used by the CLI and configs.

Adding a solver: its module under ``solvers/``, one line here, its tests, one README row.
"""

from __future__ import annotations

import inspect
from typing import Callable, NamedTuple

from . import egpo, inpo, mmd, mnpo, mwu, nash_md, nash_mp, omwu, sppo, td_mnpo
from .core import Solver


class SolverSpec(NamedTuple):
    """A registry entry.

    Attributes:
        factory: ``(eta=None, beta=None, ...) -> Solver`` (validates hyper-parameters).
        loss: the rule's loss on log-probabilities.
        multiplayer: the state holds one policy per player (``[..., N, n]``).
        summary: one line (update rule in the notation of docs/design.md §2).
    """

    factory: Callable[..., Solver]
    loss: Callable
    multiplayer: bool
    summary: str


SOLVERS: dict[str, SolverSpec] = {
    "mwu": SolverSpec(mwu.mwu, mwu.mwu_loss, False, "ℓ' = ℓ + η Pπ"),
    "sppo": SolverSpec(sppo.sppo, sppo.sppo_loss, False, "ℓ' = ℓ + η Pπ (SPPO beta = 1/η)"),
    "inpo": SolverSpec(inpo.inpo, inpo.inpo_loss, False, "ℓ' = (1−ηβ)ℓ + ηβ ℓ_ref + η Pπ"),
    "nash-md": SolverSpec(nash_md.nash_md, nash_md.nash_md_loss, False, "π^μ ∝ π^{1−ηβ} π_ref^{ηβ}, ℓ' = log π^μ + η Pπ^μ"),
    "egpo": SolverSpec(egpo.egpo, egpo.egpo_loss, False,
                       "ℓ_½ = (1−ηβ)ℓ + ηβ ℓ_ref + η Pπ, ℓ' = (1−ηβ)ℓ + ηβ ℓ_ref + η Pπ_½"),
    "nash-mp": SolverSpec(nash_mp.nash_mp, nash_mp.nash_mp_loss, False,
                          "ℓ_½ = (ℓ + ηβ ℓ_ref + η Pπ)/(1+ηβ), ℓ' = (ℓ + ηβ ℓ_ref + η Pπ_½)/(1+ηβ)"),
    "omwu": SolverSpec(omwu.omwu, omwu.omwu_loss, False, "ℓ' = ℓ + η(2Pπ_t − Pπ_{t−1})"),
    "mmd": SolverSpec(mmd.mmd, mmd.mmd_loss, False, "ℓ' = (ℓ + ηβ ℓ_ref + η Pπ)/(1+ηβ)"),
    "mnpo": SolverSpec(mnpo.mnpo, mnpo.mnpo_loss, True,
                       "π_i' ∝ (Π_{j≠i} π_j)^{1/(N−1)} exp((η/(N−1)) Σ_{j≠i} Pπ_j)"),
    "td-mnpo": SolverSpec(td_mnpo.td_mnpo, td_mnpo.td_mnpo_loss, False,
                          "ℓ' = ρ ℓ_ref + (1−ρ) Σ_j λ_j ℓ_{t−j} + η Pπ_t"),
}


def make_solver(name: str, eta: float | None = None, beta: float | None = None, **kwargs) -> Solver:
    """Build a registered solver with validated hyper-parameters (``None`` → the solver's documented default).

    Args:
        name: a key of :data:`SOLVERS`.
        eta: η (step on the win rate).
        beta: β (KL weight to π_ref).
        **kwargs: rule-specific options (``num_players`` for mnpo/td-mnpo, ``lam``/``rho`` for td-mnpo); unknown
            options raise.

    Raises:
        ValueError: unknown name or option, or a hyper-parameter that violates its condition.

    >>> make_solver("egpo", eta=0.8, beta=0.01).hparams
    {'eta': 0.8, 'beta': 0.01}
    """
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; choose from {', '.join(SOLVERS)}")
    factory = SOLVERS[name].factory
    params = inspect.signature(factory).parameters
    unknown = sorted(k for k in kwargs if k not in params)
    if unknown:
        valid = [k for k in params if k not in ("eta", "beta")]
        raise ValueError(f"solver {name!r} takes no option(s) {', '.join(unknown)}; "
                         f"its options: {', '.join(['eta', 'beta'] + valid)}")
    return factory(eta=eta, beta=beta, **kwargs)


def get_loss(name: str) -> Callable:
    """The loss on log-probabilities of solver ``name`` (see :mod:`nashlab.solvers.losses` for signatures)."""
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; choose from {', '.join(SOLVERS)}")
    return SOLVERS[name].loss
