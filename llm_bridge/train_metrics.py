"""Metrics and logging of the online loop (step 5 of :mod:`nashlab.llm_bridge.trainer`): exact action-level metrics,
the suffix-average policy, ``kl_to_ref``, per-phase wall time, ``metrics.csv`` and TensorBoard.

The action-distribution metrics are the games' own (:mod:`nashlab.games.metrics`, through
:meth:`~nashlab.llm_bridge.language_game.LanguageGame.metrics`): ``duality_gap``, ``reg_duality_gap``, ``kl_to_nash``,
``other_mass``, the same of the suffix average (``avg_*``), ``win_rate_vs_ref = mean_c πᵀP⁺π_ref``
(:func:`~nashlab.games.metrics.expected_win_rate`) and ``action_kl_to_ref = mean_c KL(π‖π_ref)``
(:func:`~nashlab.games.metrics.kl`).
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import time
from typing import Sequence

import torch

from nashlab.games.metrics import expected_win_rate, kl

from .rollout import KL_SAMPLE_PHASE, _Rollout

#: Phases whose wall time each row reports (``seconds_<phase>``); ``seconds_per_iteration`` is their sum less evaluation.
PHASES_TIMED = ("generation", "scoring", "judging", "optimisation", "evaluation")


class PhaseClock:
    """Exclusive wall time per phase: a phase entered inside another pauses the outer one's clock (opponent sampling
    inside judging counts as generation). CUDA work is synchronised at every switch so time lands in its phase."""

    def __init__(self, cuda: bool = False) -> None:
        self.cuda = cuda
        self.seconds = {k: 0.0 for k in PHASES_TIMED}
        self._stack: list[list] = []

    def reset(self) -> None:
        self.seconds = {k: 0.0 for k in PHASES_TIMED}

    def _now(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    @property
    def in_evaluation(self) -> bool:
        return bool(self._stack) and self._stack[0][0] == "evaluation"

    def __call__(self, name: str):
        clock = self
        if self.in_evaluation:  # sampling and scoring done for a metric are evaluation time
            return contextlib.nullcontext()

        class _Phase:
            def __enter__(self):
                now = clock._now()
                if clock._stack:
                    outer = clock._stack[-1]
                    clock.seconds[outer[0]] += now - outer[1]
                clock._stack.append([name, now])

            def __exit__(self, *exc):
                now = clock._now()
                _, start = clock._stack.pop()
                clock.seconds[name] += now - start
                if clock._stack:
                    clock._stack[-1][1] = now
                return False
        return _Phase()


class MetricsMixin:
    """The trainer's metric and logging methods (mixed into :class:`~nashlab.llm_bridge.trainer.OnlineTrainer`)."""

    def _initial_row(self) -> dict:
        """Iteration 0 (before training): the exact metrics of π_0 = π_ref."""
        m0 = {"iteration": 0, "loss": float("nan"), "kl_to_ref": 0.0, "tokens_per_second": float("nan"),
              "eta": float("nan"), "judge_queries": 0, "generated_tokens": 0}
        self.clock.reset()
        t0 = time.perf_counter()
        with self.clock("evaluation"):
            ev = self.evaluate()
        m0.update(self._timings(time.perf_counter() - t0))
        m0.update(ev)
        return m0

    def _iteration_row(self, loss: float, mine: Sequence[int], t0: float) -> dict:
        """The row of the iteration just finished (evaluated on its own cadence, its time reported apart)."""
        metrics = {"iteration": self.iteration, "loss": loss, "kl_to_ref": float("nan"),
                   # generation throughput of this process (all processes decode the same amount)
                   "tokens_per_second": self._gen_tokens * self.world / max(self.clock.seconds["generation"], 1e-9),
                   **self._cost_so_far()}
        evaluated = {}
        if self.eval_due():
            with self.clock("evaluation"):
                evaluated = {"kl_to_ref": self._kl_to_ref(mine), **self.evaluate()}
        metrics.update(self._timings(time.perf_counter() - t0))
        metrics.update(evaluated or {k: float("nan") for k in self._eval_keys()})
        metrics.update({k: v for k, v in evaluated.items() if k == "kl_to_ref"})
        return metrics

    def _cost_so_far(self) -> dict:
        """``eta``: the step ``η_t`` this iteration's loss was built with; ``judge_queries`` / ``generated_tokens``: the
        previous row's totals plus this iteration's judge calls (one per ordered response pair judged) and sampled
        response tokens, over all processes (each judges and samples the same amount). Evaluation's samples are not
        counted: they measure the policy, they are not part of training. Cumulative through a resume, since the
        restored history holds the last row."""
        prev = self.history[-1] if self.history else {}
        return {"eta": float(self.loss.hparams["eta"]),
                "judge_queries": int(prev.get("judge_queries", 0)) + self._judge_queries * self.world,
                "generated_tokens": int(prev.get("generated_tokens", 0)) + self._gen_tokens * self.world}

    def eval_due(self) -> bool:
        """Whether the iteration just finished is evaluated (:attr:`TrainConfig.eval_every`; always the last, and
        every one with ``feedback = "exact"``, whose feedback is the exact distribution)."""
        c = self.config
        if c.feedback == "exact" or self.iteration >= c.iterations:
            return True
        every = c.checkpoint_every if c.eval_every is None else c.eval_every
        return every > 0 and self.iteration % every == 0

    def _eval_keys(self) -> list[str]:
        first = self.history[0] if self.history else {}
        return [k for k, v in first.items() if isinstance(v, float) and k not in
                ("loss", "kl_to_ref", "tokens_per_second", "seconds", "eta") and not k.startswith("seconds_")]

    def _timings(self, total: float) -> dict:
        """``seconds`` (the whole iteration), ``seconds_per_iteration`` (without evaluation) and
        ``seconds_<phase>`` for every phase of :data:`PHASES_TIMED`."""
        sec = self.clock.seconds
        return {"seconds": total, "seconds_per_iteration": total - sec["evaluation"],
                **{f"seconds_{k}": sec[k] for k in PHASES_TIMED}}

    def _kl_to_ref(self, contexts: Sequence[int]) -> float:
        """``KL(π‖π_ref) = E_{y~π}[log π(y) − log π_ref(y)]`` of the current policy, sequence level (unnormalised
        log-probs), by the mean over ``kl_samples`` fresh samples per prompt, averaged over prompts."""
        c = self.config
        n = c.samples_per_prompt if c.kl_samples is None else c.kl_samples
        if n == 0:
            return float("nan")
        samples = self._sample(self.unwrapped, contexts, n, phase=KL_SAMPLE_PHASE)
        rollouts = [_Rollout(ctx, s, []) for ctx, s in zip(contexts, samples)]
        diff = self._logprobs(self.unwrapped, rollouts, normalize=False) - \
            self._logprobs(self._ref_scorer, rollouts, normalize=False)
        return self._gather_mean(list(diff.view(len(contexts), n).mean(-1)))

    def _gather_mean(self, values: list[torch.Tensor]) -> float:
        v = torch.stack(values).float().to(self.accelerator.device) if values else torch.zeros(0)
        if self.world > 1:
            v = self.accelerator.gather(v)
        return float(v.mean()) if v.numel() else float("nan")

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Exact action-level metrics of the current policy (every process computes the same numbers)."""
        if self._ref_pi is None:
            self._ref_pi = self.game.exact_action_distribution(self.policy, self.ref_model)
        pi = self.game.exact_action_distribution(self.policy, self.unwrapped)
        m = self.game.metrics(pi, self._ref_pi)
        m.update({f"avg_{k}": v for k, v in self.game.metrics(self._suffix_average(pi), self._ref_pi).items()
                  if k in ("duality_gap", "reg_duality_gap", "kl_to_nash", "other_mass")})
        m["win_rate_vs_ref"] = float(expected_win_rate(self.game.P_aug, pi, self._ref_pi).mean())
        m["action_kl_to_ref"] = float(kl(pi, self._ref_pi).mean())
        m["pi"] = pi.tolist()
        return m

    def _suffix_average(self, pi: torch.Tensor) -> torch.Tensor:
        """``π̄_t = (1/|S_t|) Σ_{s∈S_t} π_s`` over the last half of the iterates, ``S_t = {⌊t/2⌋+1, …, t}``
        (``S_0 = {0}``), from the exact distributions already in :attr:`history` plus the current ``pi``; with
        ``eval_every > 1`` only the evaluated iterates of ``S_t`` are known, and the mean is over those.

        ``π̄_t`` is a policy one can run (draw ``s`` uniformly from ``S_t``, answer with checkpoint ``s``), so its
        action distribution is exactly the mean of the iterates'. It is the object of the average-iterate guarantees
        (SPPO Thm. 4.1, MNPO's no-regret bound); the suffix drops the pretrained model's early iterates, which a
        running mean from ``π_0`` would carry for ever (suffix averaging keeps the O(1/T) regret rate).
        """
        t = self.iteration
        pis = [torch.as_tensor(h["pi"], dtype=pi.dtype) for h in self.history[t // 2 + 1:t] if "pi" in h] + [pi]
        return torch.stack(pis).mean(0)

    def _rewrite_metrics(self) -> None:
        """After a resume: ``metrics.csv`` holds exactly the checkpoint's iterations (rows a killed run logged after
        its last checkpoint are dropped, since those iterations run again), and TensorBoard purges its later events."""
        self._tb_purge_step = self.iteration + 1
        if not self.out_dir or not self.accelerator.is_main_process or not self.history:
            return
        rows = [{k: v for k, v in m.items() if isinstance(v, (int, float))} for m in self.history]
        with open(os.path.join(self.out_dir, "metrics.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)

    def _log(self, m: dict) -> None:
        if self.log_fn is not None:
            self.log_fn(m)
        if not self.out_dir or not self.accelerator.is_main_process:
            return
        os.makedirs(self.out_dir, exist_ok=True)
        scalars = {k: v for k, v in m.items() if isinstance(v, (int, float))}
        path = os.path.join(self.out_dir, "metrics.csv")
        new = not os.path.exists(path) or m["iteration"] == 0
        fields = list(scalars)
        if not new:  # append under the file's own header (a run resumed from an older version lacks newer columns)
            with open(path, newline="") as f:
                fields = next(csv.reader(f), None) or fields
        with open(path, "w" if new else "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(scalars)
        try:
            from torch.utils.tensorboard import SummaryWriter

            if not hasattr(self, "_tb"):
                self._tb = SummaryWriter(os.path.join(self.out_dir, "tb"),
                                         purge_step=getattr(self, "_tb_purge_step", None))
            for k, v in scalars.items():
                if k != "iteration" and math.isfinite(v):
                    self._tb.add_scalar(k, v, m["iteration"])
            self._tb.flush()
        except ImportError:  # pragma: no cover - tensorboard is a declared dependency of the llm extra
            pass
