"""Fitting: one phase's optimisation of the rule's loss on the iteration's pairs (step 4 of
:mod:`nashlab.llm_bridge.trainer`).

``E`` epochs over prompt minibatches (each epoch's order seeded by ``(seed, t, phase, 300 + epoch)``), gradient
accumulation over ``grad_accum`` micro-batches, clipping at ``max_grad_norm``. A minibatch's loss is the rule's loss
(:class:`~nashlab.llm_bridge.losses.SequenceLoss`) on all pairs ``i < j`` of its prompts' responses with target
``ĝ(y_i) − ĝ(y_j)`` (or the rollout's ``pair_target[i, j]``, ``estimator = "leave-two-out"``), or (``loss_form = "pointwise"``) the mean of the pointwise residuals
``(log π_θ(y) − a(y) − c·g(y) + log Ẑ)²`` with ``Ẑ = Σ_k w_k e^{s(y_k)}`` (:meth:`FittingMixin._set_log_partition`).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from .rollout import _Rollout, derive_seed


class FittingMixin:
    """The trainer's optimisation methods (mixed into :class:`~nashlab.llm_bridge.trainer.OnlineTrainer`)."""

    def _fit(self, rollouts_by_prompt: dict[int, _Rollout], order: list[int], phase: int) -> float:
        """E epochs of optimizer steps over prompt minibatches; returns the mean loss of the last epoch."""
        with self.clock("optimisation"):
            return self._fit_epochs(rollouts_by_prompt, order, phase)

    def _fit_epochs(self, rollouts_by_prompt: dict[int, _Rollout], order: list[int], phase: int) -> float:
        c, acc = self.config, self.accelerator
        per_step = c.prompts_per_step
        micro = per_step // c.grad_accum
        last = []
        for epoch in range(c.epochs):
            rng = np.random.default_rng(derive_seed(c.seed, self.iteration, phase, 300 + epoch))
            perm = [order[i] for i in rng.permutation(len(order))]
            losses = []
            for s in range(0, len(perm) - per_step + 1, per_step):
                step_prompts = perm[s:s + per_step]
                self.optimizer.zero_grad(set_to_none=True)
                step_loss = 0.0
                for m in range(c.grad_accum):
                    mine = self._my_prompts(step_prompts[m * micro:(m + 1) * micro])
                    loss = self._pair_loss([rollouts_by_prompt[p] for p in mine], phase)
                    ctx = acc.no_sync(self.model) if m < c.grad_accum - 1 else contextlib.nullcontext()
                    with ctx:
                        acc.backward(loss / c.grad_accum)
                    step_loss += loss.item() / c.grad_accum
                if c.max_grad_norm > 0:
                    acc.clip_grad_norm_(self.model.parameters(), c.max_grad_norm)
                self.optimizer.step()
                losses.append(step_loss)
            last = losses
        return float(np.mean(last)) if last else float("nan")

    def _partition_weights(self, r: _Rollout) -> torch.Tensor:
        """``[K_r]`` weights of the responses in ``Ẑ = Σ_k w_k e^{s(y_k)}``: ``1/K`` on the K on-policy samples, 0 on
        the extra responses."""
        K = self.config.samples_per_prompt
        w = torch.zeros(len(r.responses), dtype=torch.float64)
        w[:K] = 1.0 / K
        return w

    def _set_log_partition(self, r: _Rollout, phase: int = 0) -> None:
        """``r.log_z = log Σ_k w_k e^{s(y_k)}`` for ``loss_form = "pointwise"`` (after ``r.win_rate`` is set)."""
        if self.config.loss_form != "pointwise":
            return
        s = self.loss.step_log_ratio({k: v.cpu() for k, v in r.anchors.items()}, r.win_rate.cpu(), phase=phase)
        w = self._partition_weights(r)
        keep = w > 0
        r.log_z = torch.logsumexp(s[keep] + w[keep].log(), 0)

    def _pair_loss(self, rollouts: list[_Rollout], phase: int = 0) -> torch.Tensor:
        """Mean solver loss over all pairs ``i < j`` of the given prompts (one forward for all their responses), or
        the mean pointwise residual over their responses (``loss_form = "pointwise"``)."""
        lp = self._logprobs(self._fit_model, rollouts, grad=True).float()
        if self.config.loss_form == "pointwise":
            dev, k0, sq = lp.device, 0, []
            for r in rollouts:
                K = len(r.responses)
                anc = {k: r.anchors[k].to(dev).float() for k in self.loss.anchors}
                sq.append(self.loss.pointwise(lp[k0:k0 + K], anc, r.win_rate.to(dev).float(),
                                              r.log_z.to(dev).float(), phase=phase))
                k0 += K
            return torch.cat(sq).mean()
        ys, yps, ay, ayp, tg = [], [], {k: [] for k in self.loss.anchors}, {k: [] for k in self.loss.anchors}, []
        k0 = 0
        dev = lp.device
        for r in rollouts:
            K = len(r.responses)
            iu = torch.triu_indices(K, K, 1).to(dev)
            ys.append(lp[k0 + iu[0]])
            yps.append(lp[k0 + iu[1]])
            for key in self.loss.anchors:
                a = r.anchors[key].to(dev).float()
                ay[key].append(a[iu[0]])
                ayp[key].append(a[iu[1]])
            if r.pair_target is not None:  # estimator = "leave-two-out": T_ij
                tg.append(r.pair_target.to(dev).float()[iu[0], iu[1]])
            else:
                g = r.win_rate.to(dev).float()
                tg.append(g[iu[0]] - g[iu[1]])
            k0 += K
        cat = lambda xs: torch.cat(xs, 0)  # noqa: E731
        return self.loss(cat(ys), cat(yps), {k: cat(v) for k, v in ay.items()}, {k: cat(v) for k, v in ayp.items()},
                         cat(tg), phase=phase)
