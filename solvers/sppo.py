"""SPPO — self-play preference optimisation (Wu, Sun, Yuan, Ji, Yang, Gu, arXiv 2405.00675); tabularly Hedge.

    MWU / SPPO: ℓ' = ℓ + η Pπ

Symbols: ``ℓ = log π_t`` (``log_pi``), ``Pπ`` the win rates ``P(y ≻ π_t)`` (``g``), η (``eta``). Paper/code
translation: SPPO's code has ``beta`` (DPO-style, "eta = 1/beta"): **η = 1/beta**, e.g. the default ``beta = 1e-3``
is η = 1000 (for sequence log-probs). There is no π_ref in the rule (β here is recorded for metrics only).

* Step-size condition: any ``η > 0``.
* Claims (SPPO Thm. 4.1, average iterate only): ``DG_0(π̄_T) ≤ 2 ln n/(η(T+1)) + η/4`` (Hedge's regret bound,
  rewards in [0, 1]); the last iterate does not converge on cyclic games —
  ``tests/solvers/test_solvers_rates.py::test_mwu_sppo_cyclic_last_diverges_average_converges``.
* Default: ``η = 0.1``.

Losses: :func:`sppo_loss` (pairwise, exact minimiser) and :func:`sppo_pointwise_loss` (the paper's square loss
``(log π_θ(y)/π_t(y) − η(P̂(y ≻ π_t) − ½))²``, whose ``−½`` approximates ``log Z_t/η``).

>>> import torch
>>> from nashlab.solvers import make_solver
>>> make_solver("sppo").hparams["eta"]
0.1
"""

from __future__ import annotations

import dataclasses

from . import mwu
from .core import Tensor


def sppo_pointwise_loss(log_pi_theta_y: Tensor, *, log_pi_t_y: Tensor, win_rate: Tensor, eta: float,
                        reduction: str = "mean") -> Tensor:
    """The paper's pointwise loss ``E_y[(log π_θ(y)/π_t(y) − η(P̂(y ≻ π_t) − ½))²]`` (SPPO Eq. 3.6; MNPO Table 9).

    Over free *unnormalised* logits its minimiser is ``ℓ_t + η(Pπ_t − ½)``, whose normalisation is the Hedge step
    (``tests/solvers/test_solvers_loss_step.py::test_sppo_pointwise``); for a normalised policy the ``−½`` stands in for
    ``log Z_t/η``, an approximation.

    Args:
        log_pi_theta_y, log_pi_t_y: ``[B]``.
        win_rate: ``[B]`` estimate of ``P(y ≻ π_t)``.
        eta: η.
    """
    r = log_pi_theta_y - log_pi_t_y - eta * (win_rate - 0.5)
    sq = r * r
    return sq.mean() if reduction == "mean" else sq


#: SPPO's update is Hedge's: the same declaration as MWU's (one phase, the same claim), under SPPO's name and paper.
RULE = dataclasses.replace(
    mwu.RULE, name="sppo", update="ℓ' = ℓ + η Pπ (SPPO beta = 1/η)",
    paper="Wu, Sun, Yuan, Ji, Yang, Gu, arXiv 2405.00675 (Thm. 4.1: Hedge's regret bound)",
)
