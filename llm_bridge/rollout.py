"""Rollout: sampling, judging and the win-rate estimators (steps 2–3 of :mod:`nashlab.llm_bridge.trainer`).

Every draw of iteration ``t`` is seeded from ``(seed, t, prompt, phase)`` (:func:`derive_seed`), so it does not depend
on call order or on the process. Seed streams (``phase`` of the draw): ``0`` the K training responses; ``10·(p+1)``
the opponents of phase ``p`` sampled from the current model; ``10·(p+1) + 30 + j`` those of history iterate ``j``;
``20 + p`` the token-level mixture's; ``100 + p`` / ``200 + key`` the judge's pairwise / against-opponent queries;
``300 + epoch`` the minibatch order; :data:`KL_SAMPLE_PHASE` the ``kl_to_ref`` samples.

The estimate ``ĝ(y_i)`` of ``(Pπ_opp)(y_i)`` depends only on the opponent kind of the phase (:data:`ESTIMATORS`):

* ``"t"`` (π_t): leave-one-out over the K self-play samples, ``ĝ(y_i) = (1/(K−1)) Σ_{k≠i} o(y_i ≻ y_k)``
  (unbiased), or ``(1/M) Σ_m o(y_i ≻ y''_m)`` over M fresh samples of π_t when the pairs are not on-policy;
* ``"half"`` (the current model: π_½ after an extragradient half step, π_t before it): M fresh samples of it;
* ``"mixture"`` (π^μ): M samples of the token-level mixture ``softmax((1−ηβ) z_t + ηβ z_ref)``;
* ``"past:j"`` (π_{t−j}, a past iterate kept by the trainer): M samples of it.

A phase's opponents are a weighted combination ``Σ_m v_m π_{o_m}`` (read from the rule's declaration,
:attr:`~nashlab.llm_bridge.losses.SequenceLoss.opponents`), and its estimate is ``Σ_m v_m ĝ_m``
(:meth:`RolloutMixin._phase_win_rates`): MNPO's opponents ``mean_j π_{t−j}``, OMWU's ``2·π_t − π_{t−1}``.

With ``feedback = "exact"`` every kind reads the opponents' exact action distributions instead (:data:`EXACT`).

A judgement ``J`` is the judge's verdict (``labels = "hard"``) or its probability (``"soft"``; :meth:`RolloutMixin._judge`).
With ``estimator = "leave-two-out"`` the pair target of a ``"t"`` term with on-policy pairs is
``D_ij = (1/(K−2)) Σ_{k≠i,j} (J_ik − J_jk)`` (:func:`nashlab.solvers.estimators.loo_differences`) instead of
``ĝ_i − ĝ_j``; a phase's target is then ``Σ_m v_m T^m_ij`` with ``T^m`` that matrix or ``ĝ^m_i − ĝ^m_j``
(:attr:`_Rollout.pair_target`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from .generation import sample_responses

KL_SAMPLE_PHASE = 900  # seed stream of the kl_to_ref samples (training draws use phases < 100)


def derive_seed(*ints: int) -> int:
    """A 63-bit seed from a tuple of integers (``numpy.random.SeedSequence``), so draws are addressable by
    ``(seed, iteration, prompt, phase)`` independently of call order and process."""
    lo, hi = np.random.SeedSequence([int(i) & 0xFFFFFFFF for i in ints]).generate_state(2, np.uint32).tolist()
    return (lo | (hi << 32)) & ((1 << 63) - 1)


@dataclass
class _Rollout:
    """One prompt's samples: token lists, texts, anchor log-probs ``[K]`` and the leave-one-out win rates."""

    context: int
    responses: list
    texts: list
    anchors: dict = field(default_factory=dict)
    win_rate: torch.Tensor | None = None
    log_z: torch.Tensor | None = None
    #: ``[K, K]`` pair targets ``T_ij`` (``estimator = "leave-two-out"``; ``None``: ``win_rate_i − win_rate_j``)
    pair_target: torch.Tensor | None = None
    #: ``[K, K]`` judgements ``J_ik`` of the K self-play samples against each other (set by ``_judge_pairs``, read
    #: and cleared by ``_phase_win_rates``)
    judgements: torch.Tensor | None = None


def _judged(tr, rollouts: list[_Rollout], opponents: list, key: int) -> list[torch.Tensor]:
    """``ĝ(y_i) = (1/M) Σ_m o(y_i ≻ y''_m)`` of every rollout against its prompt's M sampled opponent responses."""
    return [tr._judge_against(r, [tr.policy.decode(o) for o in opp_r], phase=key)
            for r, opp_r in zip(rollouts, opponents)]


def _mean(estimates: list[list[torch.Tensor]], n: int) -> list[torch.Tensor]:
    """The mean over opponents of per-opponent estimates (``estimates[j][i]``: opponent ``j``, rollout ``i``)."""
    return [torch.stack([gj[i] for gj in estimates]).mean(0) for i in range(n)]


def vs_current(tr, rollouts: list[_Rollout], phase: int) -> list[torch.Tensor]:
    """``"half"``: M samples of the current model (π_½ after the half step; π_t before any parameter moved)."""
    key = 10 * (phase + 1)
    opp = tr._sample(tr.unwrapped, [r.context for r in rollouts], tr.config.num_comparisons, phase=key)
    return _mean([_judged(tr, rollouts, opp, key)], len(rollouts))


def vs_t(tr, rollouts: list[_Rollout], phase: int) -> list[torch.Tensor]:
    """``"t"``: leave-one-out over the self-play samples when they are π_t's, else M fresh samples of π_t."""
    if tr.on_policy_pairs:
        return [tr._judge_pairs(r, phase) for r in rollouts]
    return vs_current(tr, rollouts, phase)


def vs_mixture(tr, rollouts: list[_Rollout], phase: int) -> list[torch.Tensor]:
    """``"mixture"``: M samples of ``softmax((1−α) z_t + α z_ref)``, the token-level geometric mixture of the phase's
    anchors (Nash-MD's π^μ, ``α = ηβ``); α is the declared weight of π_ref (:func:`mixture_weight`)."""
    key = 20 + phase
    alpha = mixture_weight(tr.loss, phase)
    opp = tr._sample(tr.unwrapped, [r.context for r in rollouts], tr.config.num_comparisons, phase=key,
                     mixture_with=(tr.ref_model, alpha))
    return _mean([_judged(tr, rollouts, opp, key)], len(rollouts))


def vs_past(tr, rollouts: list[_Rollout], phase: int, lag: int) -> list[torch.Tensor]:
    """``"past:j"``: M samples of the past iterate π_{t−j} (:attr:`OnlineTrainer.history_states` ``[j − 1]``; π_0
    before the start)."""
    key = 10 * (phase + 1) + 30 + (lag - 1)
    opp = tr._sample(tr._scratch_model(tr.history_states[lag - 1]), [r.context for r in rollouts],
                     tr.config.num_comparisons, phase=key)
    return _mean([_judged(tr, rollouts, opp, key)], len(rollouts))


def mixture_weight(loss, phase: int) -> float:
    """α of the token-level mixture ``softmax((1−α) z_t + α z_ref)`` from the phase's anchors, which must be π_t and
    π_ref with weights ``1 − α`` and ``α`` (a mixture of other anchors has no token-level sampler here)."""
    weights = dict(loss.mixture[phase])
    alpha = weights.get("ref", 0.0)
    if set(weights) - {"t", "ref"} or abs(weights.get("t", 0.0) + alpha - 1.0) > 1e-12:
        raise ValueError(f"rule {loss.name}: a 'mixture' opponent is sampled as the token-level mixture of π_t and "
                         f"π_ref, so its anchors must be iterate and ref with weights summing to 1; got {weights}")
    return float(alpha)


def opponent_kind(kind: str) -> tuple[str, int]:
    """``"past:2"`` → ``("past", 2)``; any other kind → ``(kind, 0)``."""
    if kind.startswith("past:"):
        return "past", int(kind.split(":", 1)[1])
    return kind, 0


#: opponent kind -> ``estimator(trainer, rollouts, phase[, lag])``, one ``[K]`` estimate of ``(Pπ_opp)(y_i)`` per
#: rollout (``"past"`` takes the lag j of ``"past:j"``).
ESTIMATORS: dict[str, Callable] = {"t": vs_t, "half": vs_current, "mixture": vs_mixture, "past": vs_past}

#: opponent kind -> the ``[C, n+1]`` exact action distribution of the opponent (``feedback = "exact"``; the mixture
#: has none and is refused when the trainer is built). Iterates before the start are π_0.
EXACT: dict[str, Callable] = {
    "t": lambda tr, lag: tr._exact_pi(tr.iteration),
    "half": lambda tr, lag: tr._exact_pi(tr.iteration),  # π_½ during the extragradient re-estimate (``_half_pi``)
    "past": lambda tr, lag: tr._exact_pi(max(tr.iteration - lag, 0)),
}


class RolloutMixin:
    """The trainer's sampling and judging methods (mixed into :class:`~nashlab.llm_bridge.trainer.OnlineTrainer`)."""

    @property
    def on_policy_pairs(self) -> bool:
        """The K training responses are samples of π_t itself (so leave-one-out win rates are valid)."""
        c = self.config
        return (c.pair_temperature in (None, c.temperature) and c.pair_top_p in (None, c.top_p)
                and not c.extra_responses)

    def _my_prompts(self, prompts: Sequence[int]) -> list[int]:
        """This process's share of a global prompt list (strided)."""
        return list(prompts)[self.rank::self.world]

    def _sample(self, model, contexts: Sequence[int], num: int, phase: int, mixture_with=None,
                temperature: float | None = None, top_p: float | None = None, with_logprobs: bool = False):
        """``num`` responses per context in one batched call; row ``k`` of context ``x`` is drawn from the seed
        ``(seed, iteration, x, phase)`` and ``k`` alone (:mod:`~nashlab.llm_bridge.generation`). With
        ``with_logprobs``, also their ``[Σ num]`` log-probs under ``model`` from the decoding (length-normalised as
        the config says)."""
        c = self.config
        temperature = c.temperature if temperature is None else temperature
        top_p = c.top_p if top_p is None else top_p
        if not contexts:
            return []
        seeds = [derive_seed(c.seed, self.iteration, ctx, phase) for ctx in contexts]
        prompts = [self.prompt_ids[ctx] for ctx in contexts]
        with self.clock("generation"):
            if mixture_with is None:
                out = sample_responses(self.policy, prompts, num, max_new_tokens=c.max_new_tokens,
                                       temperature=temperature, top_p=top_p, seed=seeds, model=model,
                                       path=c.generation_path, return_logprobs=with_logprobs)
                if with_logprobs:
                    out, lps = out
            else:
                from .generation import sample_mixture

                out = sample_mixture(self.policy, prompts, num, model, mixture_with[0], mixture_with[1],
                                     max_new_tokens=c.max_new_tokens, temperature=temperature, top_p=top_p,
                                     seed=seeds)
        if not self.clock.in_evaluation:
            self._gen_tokens = getattr(self, "_gen_tokens", 0) + sum(len(r) for s in out for r in s)
        if with_logprobs:
            lp = torch.cat(lps)
            if c.normalize_logprobs:
                lp = lp / torch.tensor([len(r) for s in out for r in s], dtype=lp.dtype)
            return out, lp
        return out

    def _judge_pairs(self, r: _Rollout, phase: int) -> torch.Tensor:
        """Leave-one-out win rates ``ĝ(y_i) = mean_{k≠i} o(y_i ≻ y_k)`` from one query per unordered pair."""
        K = len(r.texts)
        iu = torch.triu_indices(K, K, 1)
        prompt = self.game.prompts[r.context]
        o = self._judge([r.context] * iu.shape[1], [prompt] * iu.shape[1], [r.texts[i] for i in iu[0]],
                        [r.texts[j] for j in iu[1]],
                        seed=derive_seed(self.config.seed, self.iteration, r.context, 100 + phase))
        W = torch.zeros(K, K, dtype=torch.float64)
        W[iu[0], iu[1]] = o.double()
        W[iu[1], iu[0]] = 1.0 - o.double()
        r.judgements = W
        return W.sum(1) / (K - 1)

    def _judge(self, contexts, prompts, responses, responses_other, *, seed: int) -> torch.Tensor:
        """``[B]`` judgements ``J_b``: the judge's Bernoulli verdicts (``labels = "hard"``, seeded by ``seed``) or its
        probabilities ``P(y_b ≻ y'_b)`` (``labels = "soft"``); timed as judging."""
        self._judge_queries = getattr(self, "_judge_queries", 0) + len(contexts)
        with self.clock("judging"):
            if self.config.labels == "soft":
                return self.judge.probabilities(contexts, prompts, responses, responses_other).double().cpu()
            return self.judge.compare(contexts, prompts, responses, responses_other, seed=seed)

    def _judge_against(self, r: _Rollout, opp_texts: list[str], phase: int) -> torch.Tensor:
        """``ĝ(y_i) = (1/M) Σ_m o(y_i ≻ y''_m)``: every sample against every opponent response."""
        K, M = len(r.texts), len(opp_texts)
        ys = [r.texts[i] for i in range(K) for _ in range(M)]
        yo = [opp_texts[m] for _ in range(K) for m in range(M)]
        o = self._judge([r.context] * (K * M), [self.game.prompts[r.context]] * (K * M), ys, yo,
                        seed=derive_seed(self.config.seed, self.iteration, r.context, 200 + phase))
        return o.double().reshape(K, M).mean(1)

    def _share(self, rollouts: dict[int, _Rollout]) -> dict[int, _Rollout]:
        """Every process's rollouts to every process (``gather_object``), so any process can take any prompt of a
        minibatch; a no-op on one process."""
        if self.world == 1:
            return rollouts
        from accelerate.utils import gather_object

        mine = []
        for r in rollouts.values():
            r.anchors = {k: v.cpu() for k, v in r.anchors.items()}
            r.win_rate = r.win_rate.cpu()
            r.judgements = None
            if r.pair_target is not None:
                r.pair_target = r.pair_target.cpu()
            mine.append(r)
        return {r.context: r for r in gather_object(mine)}

    def _phase_win_rates(self, rollouts: list[_Rollout], terms, phase: int) -> list[torch.Tensor]:
        """``Σ_m v_m ĝ_m`` over a phase's opponent terms ``((kind, v_m), …)`` (one ``[K]`` estimate per rollout); a
        combination of equal weights summing to 1 is the plain mean of the estimates.

        With ``estimator = "leave-two-out"`` also sets each rollout's :attr:`_Rollout.pair_target`
        ``Σ_m v_m T^m`` (module docstring); otherwise clears it (targets ``ĝ_i − ĝ_j``)."""
        parts, pair_parts = [], []
        for kind, _ in terms:
            for r in rollouts:
                r.judgements = None
            parts.append(self._win_rates(rollouts, kind, phase))
            pair_parts.append([r.judgements for r in rollouts])
        weights = [v for _, v in terms]
        two_out = self.config.estimator == "leave-two-out"
        for i, r in enumerate(rollouts):
            r.judgements = None
            r.pair_target = None
            if two_out:
                from nashlab.solvers.estimators import loo_differences

                r.pair_target = sum(v * (loo_differences(J[i]) if J[i] is not None else g[i][:, None] - g[i][None, :])
                                    for v, g, J in zip(weights, parts, pair_parts))
        if len(terms) == 1 and terms[0][1] == 1.0:
            return parts[0]
        if len(set(weights)) == 1 and abs(weights[0] * len(weights) - 1.0) < 1e-12:
            return _mean(parts, len(rollouts))
        return [sum(v * g[i] for v, g in zip(weights, parts)) for i in range(len(rollouts))]

    def _win_rates(self, rollouts: list[_Rollout], opponent: str, phase: int) -> list[torch.Tensor]:
        """``[K]`` estimates of ``(Pπ_opp)(y_i)`` for the opponent kind ``opponent`` (``"t"``, ``"half"``,
        ``"mixture"``, ``"past:j"``), one per rollout, by its estimator in :data:`ESTIMATORS` (or, with
        ``feedback = "exact"``, from :data:`EXACT`). Each draw is seeded by ``(seed, iteration, prompt, phase,
        opponent)``; the opponents of all prompts are sampled in one batched call per opponent model."""
        kind, lag = opponent_kind(opponent)
        if kind not in ESTIMATORS:
            raise ValueError(f"unknown opponent kind {opponent!r}; known: t, half, mixture, past:j")
        if self.config.feedback == "exact":
            with self.clock("judging"):
                return [self._exact_win_rates(r, kind, lag) for r in rollouts]
        return ESTIMATORS[kind](self, rollouts, phase, lag) if kind == "past" else \
            ESTIMATORS[kind](self, rollouts, phase)

    def _exact_pi(self, iteration: int) -> torch.Tensor:
        """``[C, n+1]`` exact action distribution of ``π_s`` for ``s ≤ t`` (recorded in :attr:`history` by
        :meth:`evaluate`); during an extragradient half step, ``s = t`` means the current model ``π_½``."""
        if iteration == self.iteration and self._half_pi is not None:
            return self._half_pi
        if iteration >= len(self.history):  # step() called without train(): π_t not evaluated yet
            return self.game.exact_action_distribution(self.policy, self.unwrapped)
        return torch.as_tensor(self.history[iteration]["pi"], dtype=torch.float64)

    def _exact_win_rates(self, r: _Rollout, kind: str, lag: int = 0) -> torch.Tensor:
        """``g(y_i) = Σ_a P⁺[c, a(y_i), a] π_opp(c, a)`` (``feedback = "exact"``)."""
        pi = EXACT[kind](self, lag)
        Pa = torch.as_tensor(self.game.P_aug, dtype=torch.float64)
        Pa = Pa[r.context] if Pa.ndim == 3 else Pa
        acts = torch.tensor([self.game.parse(x) for x in r.texts], dtype=torch.long)
        return Pa[acts] @ pi[r.context]
