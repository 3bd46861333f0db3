"""The solvers' losses applied to sequence log-probabilities: a thin adapter, no loss maths here.

Every rule's loss lives in ``nashlab.solvers`` (``get_loss(name)``) with the signature

    ``loss(log_pi_theta_y, log_pi_theta_yp, *, log_pi_<m>_y, log_pi_<m>_yp, …, target, <hparams>, reduction)``

on ``[B]`` log-probability tensors of a pair ``(y, y')``; ``target`` estimates ``g(y) − g(y')`` with ``g = Pπ_opp``
(see ``solvers/core.py::mirror_loss``). Here ``log π(y)`` is the *sequence* log-probability of a response
(:func:`~nashlab.llm_bridge.policy.sequence_logprobs`), which is exactly the tabular object: one response is one
action of the sequence-level game, so the loss's minimiser over a policy that can represent any distribution over
responses is the solver's step on that game (``tests/llm_bridge/test_loss_equals_step.py`` checks it through the
trainer's own fitting code with a one-token model whose logits are free parameters).

This module reads the loss's keyword arguments to learn which models' log-probs it needs (``m`` ∈ ``ref``, ``t``,
``hist…``), and fills hyper-parameters (``eta``, ``beta``, …) from the solver's resolved ``hparams``.

**Phases of an iteration** (:data:`PHASES`), how each rule's update is realised by the trainer:

* one phase (``inpo``, ``sppo``, ``mwu``, ``mmd``, ``td-mnpo``, ``mnpo``): anchor ``π_t``, opponent ``π_t``.
* ``egpo`` and ``nash-mp`` (extragradient / mirror prox): a half phase (opponent ``π_t``) trains ``θ_t → θ_½``;
  opponent responses ``y''`` are sampled from ``π_½``; parameters *and optimizer state* are restored to ``θ_t``;
  the full phase trains ``θ_t → θ_{t+1}`` on the same pairs ``(y, y') ~ π_t`` with targets from ``y'' ~ π_½``. Both
  phases anchor at ``π_t`` (the prox centre). This is the EGPO code's restore-and-step; for Nash-MP it is the same
  realisation of the two prox steps, each an online-IPO regression towards ``π̃_k ∝ π_ref^{β/β'} π_k^{(1/η)/β'}``.
* ``td-mnpo``: ``log_pi_hist [B, H]`` columns are ``π_t, π_{t−1}, …, π_{t−H+1}`` (``H = num_players − 1``; iterates
  before the start are ``π_0``), kept as CPU state dicts; opponent ``π_t`` (self-play pairs).
* ``mnpo``: the ``N − 1`` opponents of the player being trained are the most recent iterates
  ``π_t, π_{t−1}, …, π_{t−N+2}`` (``π_0`` before they exist) — with one network the N symmetric players of the theory
  would stay identical (all start at π_ref), so, as in the MNPO paper's practical version, past iterates play the
  other players. ``log_pi_opp [B, N−1]`` holds their log-probs and ``target`` is the opponent-averaged
  ``mean_j (ĝ_j(y) − ĝ_j(y'))``, ``ĝ_0`` from the self-play pairs and ``ĝ_j`` (j ≥ 1) from ``M`` samples of
  ``π_{t−j}`` (MNPO Eq. 14, the oracle form). Tabular counterpart: ``ℓ' = mean_j ℓ_{t−j} + η mean_j Pπ_{t−j}``,
  the solver's MNPO step for a player whose opponents hold those iterates.
* ``nash-md``: opponent responses from the token-level geometric mixture ``softmax((1−ηβ) z_t + ηβ z_ref)``
  (Nash-MD-PG / TRL's realisation of ``π^μ``; exact for one-token responses, an approximation of the
  sequence-level mixture otherwise).
"""

from __future__ import annotations

import inspect
from typing import Callable, Mapping

import torch

#: name -> (phases, opponent of the last phase): "t" (π_t), "half" (π_½), "mixture" (π^μ).
PHASES: dict[str, tuple[int, str]] = {
    "inpo": (1, "t"), "sppo": (1, "t"), "mwu": (1, "t"), "mmd": (1, "t"), "td-mnpo": (1, "t"), "mnpo": (1, "players"),
    "egpo": (2, "half"), "nash-mp": (2, "half"), "nash-md": (1, "mixture"),
}


def _solvers():
    import nashlab.solvers as s

    return s


class SequenceLoss:
    """A solver's loss bound to its resolved hyper-parameters, fed from a dict of anchor log-probs.

    Args:
        name: solver name (a key of ``nashlab.solvers.SOLVERS`` supported by the bridge, see :data:`PHASES`).
        hparams: the solver's resolved hyper-parameters (``make_solver(name, ...).hparams``).

    Attributes:
        anchors: model keys the loss reads, e.g. ``("ref", "t")``; ``log_pi_<key>_y`` / ``_yp`` arguments.
        phases, opponent: see :data:`PHASES`.
    """

    def __init__(self, name: str, hparams: Mapping[str, object]) -> None:
        if name not in PHASES:
            raise ValueError(f"solver {name!r} has no LLM realisation here; choose from {', '.join(PHASES)}")
        self.name = name
        self.fn: Callable = _solvers().get_loss(name)
        self.hparams = dict(hparams)
        self.phases, self.opponent = PHASES[name]
        params = inspect.signature(self.fn).parameters
        anchors, fixed = [], {}
        for p in list(params)[2:]:
            if p.startswith("log_pi_") and p.endswith("_y"):
                anchors.append(p[len("log_pi_"):-2])
            elif p.startswith("log_pi_") and p.endswith("_yp"):
                continue
            elif p in ("target", "reduction"):
                continue
            elif p in self.hparams:
                fixed[p] = self.hparams[p]
            elif params[p].default is inspect.Parameter.empty:
                raise ValueError(f"the {name} loss needs argument {p!r}, which the bridge cannot supply; "
                                 f"hparams: {sorted(self.hparams)}")
        self.anchors = tuple(anchors)
        self.fixed = fixed

    def __call__(self, log_pi_theta_y: torch.Tensor, log_pi_theta_yp: torch.Tensor,
                 anchors_y: Mapping[str, torch.Tensor], anchors_yp: Mapping[str, torch.Tensor],
                 target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """The loss of ``B`` pairs: ``[B]`` log-probs under π_θ, dicts ``key -> [B]`` (or ``[H, B]``) of anchors."""
        kw = dict(self.fixed)
        for k in self.anchors:
            kw[f"log_pi_{k}_y"] = anchors_y[k]
            kw[f"log_pi_{k}_yp"] = anchors_yp[k]
        return self.fn(log_pi_theta_y, log_pi_theta_yp, target=target, reduction=reduction, **kw)


    def pointwise(self, log_pi_theta_y: torch.Tensor, anchors_y: Mapping[str, torch.Tensor], win_rate: torch.Tensor,
                  log_z: torch.Tensor | float) -> torch.Tensor:
        """``[K]`` squared pointwise residuals ``(log π_θ(y) − a(y) − c·g(y) + log Z)²`` of one prompt's responses.

        The rule's step is ``log π'(y) = a(y) + c·g(y) − log Z`` with ``a`` its anchor combination (``mirror_loss``),
        so this regression pins each sampled response's *absolute* log-probability, where the pairwise loss fixes only
        differences (leaving a sequence model free to move mass onto responses nobody sampled). It is the rule's own
        loss evaluated against a virtual partner ``y'`` with ``log π_θ(y') = 0``, every anchor ``= log Z`` and
        ``g(y') = 0``: the anchor weights of every mirror rule sum to one, so ``a(y') = log Z``
        (``tests/llm_bridge/test_pointwise_loss.py`` checks this for every bridged rule).
        """
        kw = dict(self.fixed)
        for k in self.anchors:
            a = anchors_y[k]
            kw[f"log_pi_{k}_y"] = a
            kw[f"log_pi_{k}_yp"] = torch.zeros_like(a) + torch.as_tensor(log_z, dtype=a.dtype, device=a.device)
        zero = torch.zeros_like(log_pi_theta_y)
        return self.fn(log_pi_theta_y, zero, target=win_rate.to(log_pi_theta_y.dtype), reduction="none", **kw)

    def step_log_ratio(self, anchors_y: Mapping[str, torch.Tensor], win_rate: torch.Tensor) -> torch.Tensor:
        """``s(y) = a(y) + c·g(y) − log π_t(y)``, the rule's unnormalised step as a log-ratio to ``π_t``
        (``[K]``, float64), so ``Z = E_{y~π_t} e^{s(y)}``. Recovered from two evaluations of the loss at
        ``θ = θ_t``: with ``r = −s``, ``(r + 1)² − r² − 1 = 2r``."""
        lp_t = anchors_y["t"].double()
        anc = {k: v.double() for k, v in anchors_y.items()}
        g = win_rate.double()
        q0 = self.pointwise(lp_t, anc, g, 0.0)
        q1 = self.pointwise(lp_t, anc, g, 1.0)
        return -(q1 - q0 - 1.0) / 2.0


def make_sequence_loss(name: str, eta=None, beta=None, **options) -> SequenceLoss:
    """``make_solver(name, eta, beta, **options)`` for validation and defaults, then its loss as a
    :class:`SequenceLoss`."""
    solver = _solvers().make_solver(name, eta=eta, beta=beta, **options)
    return SequenceLoss(name, solver.hparams)
