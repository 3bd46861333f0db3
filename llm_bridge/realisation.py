"""Realisation: how one iteration's update of a rule is carried out on the model (step 4 of
:mod:`nashlab.llm_bridge.trainer`), read from the rule's :class:`~nashlab.llm_bridge.losses.SequenceLoss`.

* Phases (:func:`phase_opponents`): each phase ``p`` estimates the win rates against its opponent kind
  (:data:`~nashlab.llm_bridge.rollout.ESTIMATORS`) and fits the loss on the iteration's pairs
  (:meth:`~nashlab.llm_bridge.fitting.FittingMixin._fit`). With more than one phase (extragradient / mirror prox:
  ``egpo``, ``nash-mp``) every phase after the first re-estimates the targets against the model the previous phase
  left (π_½, its opponents ``y'' ~ π_½``), then restores parameters *and optimizer state* to ``θ_t`` and fits again
  from there: ``θ_t → θ_½``, restore, ``θ_t → θ_{t+1}`` (the EGPO code's restore-and-step).
* History (:func:`history_length`): the rule keeps ``H`` past iterates ``π_{t−1}, …, π_{t−H}`` as CPU state dicts
  (:attr:`OnlineTrainer.history_states`; iterates before the start are π_0, one shared dict). They are the extra
  columns of the history anchors (:func:`history_anchors`) and the ``"players"`` opponents; after the fit, π_t joins
  the front of the list and the oldest leaves.
"""

from __future__ import annotations

import copy

import torch

#: Anchor keys whose log-probs are the columns ``π_t, π_{t−1}, …, π_{t−H}`` (``[N, 1 + H]``): the past iterates
#: (``past:j`` is column j; ``others``, the mean over the other players, the first ``N − 1`` columns).
HISTORY_ANCHORS = ("hist",)


def history_length(loss, config=None) -> int:
    """``H``, the number of past iterates ``π_{t−1}, …, π_{t−H}`` the rule keeps, from its declaration
    (:attr:`~nashlab.llm_bridge.losses.SequenceLoss.history`: the largest lag any anchor or opponent reads)."""
    return int(loss.history)


def phase_opponents(loss) -> tuple[tuple[tuple[str, float], ...], ...]:
    """Each phase's opponent terms ``((kind, weight), …)`` from the rule's declaration
    (:attr:`~nashlab.llm_bridge.losses.SequenceLoss.opponents`; kinds ``"t"``, ``"half"``, ``"mixture"``,
    ``"past:j"``)."""
    return loss.opponents


def history_anchors(tr, rollouts, t: torch.Tensor, needed: set) -> dict[str, torch.Tensor]:
    """``{key: [N, 1 + H]}`` for the :data:`HISTORY_ANCHORS` keys the loss reads: columns ``π_t`` (``t``, already
    scored) and the history iterates; a state shared by several slots (π_0 before the start) is scored once."""
    if not needed & set(HISTORY_ANCHORS):
        return {}
    cols, seen = [t], {}
    for st in tr.history_states:
        if id(st) not in seen:
            seen[id(st)] = tr._logprobs(tr._scratch_model(st), rollouts)
        cols.append(seen[id(st)])
    stacked = torch.stack(cols, -1)
    return {key: stacked for key in HISTORY_ANCHORS}


def _cpu_state(model) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class RealisationMixin:
    """The trainer's phase and history methods (mixed into :class:`~nashlab.llm_bridge.trainer.OnlineTrainer`)."""

    def _init_history(self, model) -> None:
        """:attr:`histories` ``= H`` slots, all π_0 (the initial weights) until real iterates exist."""
        self.histories = history_length(self.loss, self.config)
        init_state = _cpu_state(model) if self.histories else None
        self.history_states: list[dict] = [init_state] * self.histories

    def _scratch_model(self, state: dict):
        """A model holding a history state dict (built lazily, reused)."""
        if not hasattr(self, "_scratch"):
            self._scratch = copy.deepcopy(self.ref_model)
        self._scratch.load_state_dict(state)
        return self._scratch

    def _estimate(self, rollouts: dict, mine: list[int], opponent, phase: int) -> dict:
        """Set ``win_rate`` (and ``log_z``) of this process's rollouts against the phase's opponent terms; every
        process's rollouts to every process."""
        mine_r = [rollouts[ctx] for ctx in mine]
        for r, g in zip(mine_r, self._phase_win_rates(mine_r, opponent, phase=phase)):
            r.win_rate = g
            self._set_log_partition(r, phase)
        return self._share({ctx: rollouts[ctx] for ctx in mine})

    def _schedule(self) -> None:
        """The iteration's learning rate (linear from ``lr`` to ``lr_final``) and optional optimizer reset."""
        c = self.config
        if c.lr_final is not None:
            frac = self.iteration / max(c.iterations - 1, 1)
            for group in self.optimizer.param_groups:
                group["lr"] = c.lr + (c.lr_final - c.lr) * frac
        if c.reset_optimizer:
            self.optimizer.state.clear()

    def _realise(self, rollouts: dict, mine: list[int], order: list[int]) -> float:
        """Estimate, fit (every phase of :func:`phase_opponents`, restore-and-step between phases) and update the
        history; returns the last phase's loss."""
        opponents = phase_opponents(self.loss)
        rollouts = self._estimate(rollouts, mine, opponents[0], phase=0)  # 3) judge against the first opponent
        self._schedule()  # 4) optimise
        pre = _cpu_state(self.unwrapped) if self.histories else None
        backup = None
        if len(opponents) > 1:
            backup = ({k: v.detach().clone() for k, v in self.unwrapped.state_dict().items()},
                      copy.deepcopy(self.optimizer.state_dict()))
        for phase, opponent in enumerate(opponents):
            if phase:  # opponents of the model the previous phase left (π_½), then θ_t and the optimizer restored
                if self.config.feedback == "exact":
                    with self.clock("judging"):
                        self._half_pi = self.game.exact_action_distribution(self.policy, self.unwrapped)
                rollouts = self._estimate(rollouts, mine, opponent, phase=phase)
                self._half_pi = None
                self.unwrapped.load_state_dict(backup[0])
                last = phase == len(opponents) - 1  # a state loaded twice must not share tensors with the backup
                self.optimizer.load_state_dict(backup[1] if last else copy.deepcopy(backup[1]))
            loss = self._fit(rollouts, order, phase=phase)
        if self.histories:  # π_t joins the history: [π_t, π_{t-1}, ...] are π_{t'-1}, π_{t'-2}, ... at t' = t+1
            self.history_states = ([pre] + self.history_states)[:self.histories]
        return loss
