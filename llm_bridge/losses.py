"""A rule's derived loss on sequence log-probabilities, and what the trainer needs to realise it: no loss maths here.

Every rule is declared once in ``nashlab.solvers`` (:class:`nashlab.solvers.Rule`); its loss on log-probabilities is
derived from the declaration (:class:`nashlab.solvers.RuleLoss`): for a pair ``(y, y')`` and an estimate ``target`` of
``g(y) − g(y')``, ``E[(Δlog π_θ − Δa − c·target)²]`` with ``a = Σ_k w_k ℓ_k`` the phase's anchors and ``c`` its step
(and the pointwise form ``(log π_θ(y) − a(y) − c·g(y) + log Z)²``). Here ``log π(y)`` is the *sequence*
log-probability of a response (:func:`~nashlab.llm_bridge.policy.sequence_logprobs`), which is exactly the tabular
object: one response is one action of the sequence-level game, so the loss's minimiser over a policy that can represent
any distribution over responses is the rule's step on that game (``nashlab verify``'s ``llm-realisation`` check runs
the trainer's own fitting code on a one-token model with free logits).

**How the trainer realises a declaration** (:class:`SequenceLoss`):

* anchors: ``iterate`` is π_t (the model before the iteration's fit, key ``"t"``), ``ref`` the frozen initial model
  (``"ref"``), ``past:j`` the iterate j iterations back (column j of ``"hist"``, ``[K, 1 + H]``: π_t, π_{t−1}, …; kept
  as CPU state dicts, π_0 before they exist). A rule with a player axis (``others``: the mean over the other players)
  is realised with one network whose past iterates play the other players, as in the MNPO paper's practical
  version: ``others`` is the mean of ``π_t, π_{t−1}, …, π_{t−N+2}``.
* opponents (per phase, :attr:`SequenceLoss.opponents`): ``("t", v)`` π_t, by leave-one-out over the self-play
  samples; ``("half", v)`` M fresh samples of the current model: π_t in the first phase of an extragradient rule
  (both phases then share one estimator), the previous phase's model π_½ in the second (extragradient: parameters *and optimizer state* are restored to θ_t before the next
  phase, which trains on the same pairs); ``("mixture", v)`` samples of the token-level geometric mixture
  ``softmax(Σ_k w_k z_k)`` of the anchors' logits (Nash-MD-PG / TRL's realisation of π^μ: exact for one-token
  responses, an approximation of the sequence-level mixture otherwise); ``("past:j", v)`` samples of π_{t−j}. The
  target is ``Σ_m v_m (ĝ_m(y) − ĝ_m(y'))``.
* history: the trainer keeps :attr:`SequenceLoss.history` past iterates: the largest j any anchor or opponent reads.
"""

from __future__ import annotations

from typing import Mapping

import torch


def _solvers():
    import nashlab.solvers as s

    return s


class SequenceLoss:
    """A declared rule's derived loss bound to its resolved hyper-parameters, fed from the trainer's anchor log-probs.

    Args:
        rule: a :class:`nashlab.solvers.Rule` or anything ``load_rule`` accepts (a name, ``path.py:NAME``).
        hparams: the rule's resolved hyper-parameters (``rule.hparams(...)``).

    Attributes:
        name: the rule's name.
        anchors: the trainer's log-prob keys the loss reads (``"t"``, ``"ref"``, ``"hist"``).
        phases: number of phases.
        opponents: per phase, ``((kind, weight), …)`` with kind ``"t"``, ``"half"``, ``"mixture"`` or ``"past:j"``.
        opponent: the last phase's opponent kind when it is a single unit-weight one (``"t"``, ``"half"``,
            ``"mixture"``), ``"players"`` for the mean over past iterates, else ``"combination"``.
        history: how many past iterates ``π_{t−1}, …`` the trainer keeps.
        mixture: per phase, ``((anchor key, weight), …)`` of the geometric mixture an opponent ``"mixture"`` samples.
    """

    def __init__(self, rule, hparams: Mapping[str, object]) -> None:
        s = _solvers()
        self.rule = s.load_rule(rule)
        self.name = self.rule.name
        self.hparams = dict(hparams)
        self.phase_losses = [self.rule.loss(self.hparams, k) for k in range(len(self.rule.phases))]
        self.phases = len(self.phase_losses)
        self._players = int(self.hparams[self.rule.players]) if self.rule.multiplayer else None
        resolved = self.rule.resolved_phases(self.hparams)
        opponents, mixtures, lag = [], [], 0
        for anchors, _, opps in resolved:
            terms = []
            for t, v in opps:
                if t.kind == "iterate" and len(resolved) > 1:
                    # an extragradient rule estimates every phase from M fresh samples of the current model (π_t
                    # before the first fit, π_½ after it), so the phases' targets share one estimator and noise model
                    terms.append(("half", v))
                elif t.kind == "iterate":
                    terms.append(("t", v))
                elif t.kind == "others":
                    terms += [("t" if j == 0 else f"past:{j}", v / (self._players - 1)) for j in range(self._players - 1)]
                elif t.kind == "past":
                    terms.append((t.source, v))
                else:
                    terms.append((t.kind, v))
            opponents.append(tuple(terms))
            mixtures.append(tuple((self._key(t), w) for t, w in anchors))
            for t, _ in anchors:
                lag = max(lag, t.lag, (self._players - 2) if t.kind == "others" else 0)
            for k, _ in terms:
                lag = max(lag, int(k.split(":")[1]) if k.startswith("past:") else 0)
        self.opponents = tuple(opponents)
        self.mixture = tuple(mixtures)
        self.history = lag
        last = self.opponents[-1]
        if len(last) == 1 and last[0][1] == 1.0 and last[0][0] in ("t", "half", "mixture"):
            self.opponent = last[0][0]
        elif all(v == last[0][1] for _, v in last) and {k for k, _ in last} == \
                {"t"} | {f"past:{j}" for j in range(1, len(last))}:
            self.opponent = "players"
        else:
            self.opponent = "combination"
        keys = {self._key(t) for anchors, _, _ in resolved for t, _ in anchors}
        self.anchors = tuple(k for k in ("ref", "t", "hist") if k in keys)

    @staticmethod
    def _key(term) -> str:
        return {"iterate": "t", "ref": "ref"}.get(term.kind, "hist")

    def sources(self, anchors: Mapping[str, torch.Tensor]) -> dict:
        """The trainer's keys (``"t"``, ``"ref"``, ``"hist"``) as the declaration's sources."""
        out = {}
        if "t" in anchors:
            out["iterate"] = anchors["t"]
        if "ref" in anchors:
            out["ref"] = anchors["ref"]
        if "hist" in anchors:
            h = anchors["hist"]
            for j in range(1, h.shape[-1]):
                out[f"past:{j}"] = h[..., j]
            if self._players is not None:
                out["others"] = h[..., : self._players - 1].mean(-1)
        return out

    def __call__(self, log_pi_theta_y: torch.Tensor, log_pi_theta_yp: torch.Tensor,
                 anchors_y: Mapping[str, torch.Tensor], anchors_yp: Mapping[str, torch.Tensor],
                 target: torch.Tensor, reduction: str = "mean", phase: int = 0) -> torch.Tensor:
        """The pairwise loss of ``B`` pairs: ``[B]`` log-probs under π_θ, dicts ``key -> [B]`` (``"hist"``:
        ``[B, 1 + H]``) of the anchors at y and y'."""
        return self.phase_losses[phase](log_pi_theta_y, log_pi_theta_yp, self.sources(anchors_y),
                                        self.sources(anchors_yp), target, reduction)

    def pointwise(self, log_pi_theta_y: torch.Tensor, anchors_y: Mapping[str, torch.Tensor], win_rate: torch.Tensor,
                  log_z: torch.Tensor | float, phase: int = 0) -> torch.Tensor:
        """``[K]`` squared pointwise residuals ``(log π_θ(y) − a(y) − c·g(y) + log Z)²`` of one prompt's responses.

        The rule's step is ``log π'(y) = a(y) + c·g(y) − log Z``, so this regression pins each sampled response's
        *absolute* log-probability, where the pairwise loss fixes only differences (leaving a sequence model free to
        move mass onto responses nobody sampled)."""
        return self.phase_losses[phase].pointwise(log_pi_theta_y, self.sources(anchors_y), win_rate, log_z)

    def step_log_ratio(self, anchors_y: Mapping[str, torch.Tensor], win_rate: torch.Tensor,
                       phase: int = 0) -> torch.Tensor:
        """``s(y) = a(y) + c·g(y) − log π_t(y)``, the rule's unnormalised step as a log-ratio to π_t (``[K]``, float64),
        so ``Z = E_{y~π_t} e^{s(y)}``."""
        return self.phase_losses[phase].step_log_ratio(self.sources(anchors_y), win_rate)


def make_sequence_loss(rule, eta=None, beta=None, **options) -> SequenceLoss:
    """The rule's hyper-parameters validated and defaulted (``rule.hparams``), then its loss as a
    :class:`SequenceLoss`."""
    r = _solvers().load_rule(rule)
    return SequenceLoss(r, r.hparams(eta, beta, **options))
