"""The online NLHF loop on a causal LM (the recipe): snapshot, sample, judge, build pairs, optimise; on one device
or many. Each step lives in its own module; this one wires them and runs the iterations.

One iteration ``t`` (numbered steps match the code):

1. Snapshot (:mod:`.scoring`): the log-probs of ``π_t`` (and of ``π_ref`` and history iterates, whichever the loss
   reads) are computed once, before any parameter moves, for every sampled response — no copy of the model is
   trained against. Each anchor model scores all responses in padded forwards chunked by
   :data:`SCORE_TOKEN_BUDGET` token positions (the shared-prompt path only where :func:`share_prompt_wins`).
2. Sample (:mod:`.rollout`) ``K`` responses per prompt from ``π_t`` (temperature / top-p; seeded per prompt and
   iteration), one generation call for all of a process's prompts × samples.
3. Judge (:mod:`.rollout`) every unordered pair of a prompt's responses once (``o_ji = 1 − o_ij``) and estimate each
   response's win rate against the rule's opponent, by leave-one-out ``ĝ(y_i) = (1/(K−1)) Σ_{k≠i} o(y_i ≻ y_k)``
   (unbiased for ``(Pπ_t)(y_i)``) or from ``M`` opponent samples (one estimator per opponent kind); pairs are all
   ``i < j`` with target ``ĝ(y_i) − ĝ(y_j)``.
4. Optimise (:mod:`.realisation`, :mod:`.fitting`) ``E`` epochs over prompt minibatches (AdamW or SGD, gradient
   accumulation, clipping, bf16 autocast on GPU). Extragradient rules (``egpo``, ``nash-mp``) then sample ``M``
   opponents ``y'' ~ π_½`` per prompt, restore parameters and optimizer state to ``θ_t``, re-estimate
   ``ĝ(y_i) = (1/M) Σ_m o(y_i ≻ y''_m)`` and optimise again; ``nash-md`` takes its opponents from the token-level
   mixture; ``mnpo`` / ``td-mnpo`` keep past iterates.
5. Metrics (:mod:`.train_metrics`; main process), every ``eval_every`` iterations (and the last): exact action
   distribution of the language game → ``duality_gap``, ``reg_duality_gap``, ``kl_to_nash``, the same of the
   suffix-average policy (``avg_*``), ``win_rate_vs_ref = mean_c πᵀP⁺π_ref``, ``action_kl_to_ref`` and ``kl_to_ref``
   (sequence level: ``mean log π_{t+1}(y)/π_ref(y)`` over ``kl_samples`` fresh samples ``y ~ π_{t+1}`` per prompt, so
   every metric of a row is of the same policy); every row: loss, tokens/s, the step size ``eta`` the iteration used
   (``η_t`` of ``schedule``), the cost so far (``judge_queries``: pairwise judge calls, ``generated_tokens``: sampled
   response tokens, both cumulative over the run and all processes; 0 queries under exact feedback), and the wall time of the iteration split
   into generation, scoring (anchor log-probs), judging, optimisation and evaluation (``seconds_<phase>``;
   ``seconds_per_iteration`` is the iteration without evaluation). Written to ``metrics.csv`` and TensorBoard (``tb/``).
6. Checkpoint (:mod:`.checkpointing`, format in :mod:`.checkpoint`): safetensors weights (policy, reference,
   histories), optimizer state, ``state.json`` (iteration, metrics so far, config), RNG states in JSON: no pickle.
   Resuming gives the same numbers as an uninterrupted run (every random draw of iteration ``t`` is seeded from
   ``(seed, t, prompt, phase)``; the global RNG states are restored too), tested in ``tests/llm_bridge/test_trainer.py``.

Distributed (accelerate; DDP, FSDP or DeepSpeed per the launch config): each process takes its share of every
prompt minibatch; since samples and judge outcomes are seeded per prompt and every process has the same number of
pairs, the all-reduced gradient equals the single-process one (tested with 2 CPU processes). The model is kept in
eval mode (no dropout), as usual in RLHF trainers, so a step is a deterministic function of the batch.
"""

from __future__ import annotations

import copy
import os
import time

import torch

from .checkpointing import RUN_OUTPUTS, CheckpointMixin, _jsonable
from .fitting import FittingMixin
from .losses import SequenceLoss, make_sequence_loss
from .policy import SequencePolicy
from .realisation import RealisationMixin, phase_opponents
from .rollout import EXACT, KL_SAMPLE_PHASE, RolloutMixin, _Rollout, derive_seed, mixture_weight, opponent_kind
from .scoring import FORWARD_OVERHEAD_TOKENS, SCORE_TOKEN_BUDGET, ScoringMixin, length_buckets, share_prompt_wins
from .train_config import TrainConfig
from .train_metrics import PHASES_TIMED, MetricsMixin, PhaseClock

__all__ = [  # what moved out of this module stays importable from it
    "COMPILE_BACKEND", "FORWARD_OVERHEAD_TOKENS", "KL_SAMPLE_PHASE", "PHASES_TIMED", "RUN_OUTPUTS",
    "SCORE_TOKEN_BUDGET", "OnlineTrainer", "PhaseClock", "SequenceLoss", "TrainConfig", "_Rollout", "_jsonable",
    "adamw", "derive_seed", "length_buckets", "share_prompt_wins",
]

COMPILE_BACKEND = "inductor"  # the CPU tests swap in "aot_eager": same capture and autograd, no kernel codegen


def adamw(params, *, lr: float, weight_decay: float, betas) -> torch.optim.AdamW:
    """``torch.optim.AdamW``, with the fused kernel when every parameter is a floating CUDA or CPU tensor.

    The fused kernel makes one pass over all parameters instead of one Python-level update per tensor (on CPU, torch's
    default is that single-tensor loop, 10 ms of a 100 ms iteration of a 2.6M-parameter model); the update is the
    same up to float rounding (tested). Transformers' Trainer (and so TRL) defaults to the fused kernel too.
    """
    params = list(params)
    fused = bool(params) and all(p.device.type in ("cuda", "cpu") and p.is_floating_point() for p in params) \
        and len({p.device.type for p in params}) == 1
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=betas, fused=True if fused else None)


class OnlineTrainer(ScoringMixin, RolloutMixin, FittingMixin, RealisationMixin, MetricsMixin, CheckpointMixin):
    """Runs :class:`TrainConfig` on a :class:`SequencePolicy`, a judge and (for exact metrics) a language game.

    Args:
        policy: the trained policy (its model is moved/wrapped by accelerate).
        judge: a :class:`~nashlab.llm_bridge.judges.Judge`.
        game: a :class:`~nashlab.llm_bridge.language_game.LanguageGame` (prompts; exact metrics when the judge is its
            known-Nash judge). ``prompts`` are taken from it.
        config: :class:`TrainConfig`.
        out_dir: where metrics, TensorBoard logs and checkpoints go (``None``: nothing written).
        accelerator: an ``accelerate.Accelerator`` (default: a new one; ``cpu=True`` without CUDA).
        progress: show a tqdm bar on stderr.
        log_fn: called with each iteration's metrics dict.
    """

    def __init__(self, policy: SequencePolicy, judge, game, config: TrainConfig, out_dir: str | None = None,
                 accelerator=None, progress: bool = False, log_fn=None) -> None:
        from accelerate import Accelerator

        self.policy, self.judge, self.game, self.config = policy, judge, game, config
        self.out_dir, self.progress, self.log_fn = out_dir, progress, log_fn
        cuda = torch.cuda.is_available()
        bf16 = config.bf16 == "yes" or (config.bf16 == "auto" and cuda)
        if accelerator is None:
            accelerator = Accelerator(cpu=not cuda, mixed_precision="bf16" if bf16 else "no")
        self.accelerator = accelerator
        self.world, self.rank = accelerator.num_processes, accelerator.process_index
        if config.prompts_per_step % (self.world * config.grad_accum):
            raise ValueError(f"prompts_per_step ({config.prompts_per_step}) must be divisible by processes × "
                             f"grad_accum ({self.world} × {config.grad_accum})")
        beta = game.beta if config.beta is None else config.beta
        self.loss = make_sequence_loss(config.solver, config.eta, beta, **config.solver_options)
        self.hparams = self.loss.hparams
        for phase, terms in enumerate(phase_opponents(self.loss)):
            if any(k == "mixture" for k, _ in terms):
                mixture_weight(self.loss, phase)  # refuse a mixture the token-level sampler cannot draw, up front
        model = policy.model.to(accelerator.device)
        # π_ref: a frozen copy of the initial model (its log-probs only).
        self.ref_model = copy.deepcopy(model).eval().requires_grad_(False)
        self._init_history(model)  # H past iterates (the rule's), all π_0 until real ones exist
        opt = self._make_optimizer(model)
        self.model, self.optimizer = accelerator.prepare(model, opt)
        self.model.eval()
        # unwrap once: accelerate's unwrap_model probes for DeepSpeed/FSDP on every call (~1 ms, twice an iteration)
        self._unwrapped = accelerator.unwrap_model(self.model)
        # compiled views share the modules' parameters; checkpoints and sampling use the modules themselves
        compiled = lambda m: torch.compile(m, backend=COMPILE_BACKEND, dynamic=True)  # noqa: E731
        self._fit_model = compiled(self.model) if config.compile else self.model
        self._ref_scorer = compiled(self.ref_model) if config.compile else self.ref_model
        self.prompt_ids = [policy.encode_prompt(p) for p in game.prompts]
        self.iteration = 0
        self.history: list[dict] = []
        self._ref_pi = None
        self._half_pi = None
        self.clock = PhaseClock(cuda=accelerator.device.type == "cuda")
        if config.labels == "soft" and not callable(getattr(judge, "probabilities", None)):
            raise ValueError(f"labels = 'soft' needs a judge that gives probabilities (got {type(judge).__name__}); "
                             "use labels = 'hard'")
        if config.feedback == "exact":
            from .judges import KnownNashJudge

            if not (isinstance(judge, KnownNashJudge) and judge.game is game):
                raise ValueError("feedback = 'exact' needs the known-Nash judge of the trained game "
                                 f"(got {type(judge).__name__}); use feedback = 'sampled'")
            if any(opponent_kind(k)[0] not in EXACT for terms in phase_opponents(self.loss) for k, _ in terms):
                raise ValueError(f"feedback = 'exact' is not available for {config.solver} (its opponent is a "
                                 "token-level mixture without an exact action distribution); use 'sampled'")

    # ------------------------------------------------------------------ setup helpers

    def _step_loss(self) -> None:
        """:attr:`loss` for iteration ``t``: the rule's declaration at ``rule.hparams(eta=η_t, beta,
        **solver_options)`` with ``η_t = step_size(config.schedule, η_0, β, t)``
        (:func:`nashlab.solvers.schedules.step_size`); TD-MNPO's ``rho`` (``= ηβ`` by default) follows ``η_t``, as in
        :func:`nashlab.solvers.schedules.scheduled`. A constant schedule keeps the loss built at ``η_0``."""
        c = self.config
        if c.schedule == "constant":
            return
        from nashlab.solvers.schedules import step_size

        eta0, beta = self.hparams["eta"], self.hparams["beta"]
        eta_t = step_size(c.schedule, eta0, beta, self.iteration, solver=self.loss.name)
        if eta_t != self.loss.hparams["eta"]:
            rule = self.loss.rule
            opts = {k: v for k, v in c.solver_options.items() if k != "rho"}
            self.loss = SequenceLoss(rule, rule.hparams(eta_t, beta, **opts))

    def _make_optimizer(self, model):
        c = self.config
        params = [p for p in model.parameters() if p.requires_grad]
        if c.optimizer == "sgd":
            return torch.optim.SGD(params, lr=c.lr, weight_decay=c.weight_decay)
        return adamw(params, lr=c.lr, weight_decay=c.weight_decay, betas=tuple(c.adam_betas))

    @property
    def unwrapped(self):
        return self._unwrapped

    # ------------------------------------------------------------------ one iteration, the loop

    def step(self) -> dict:
        """Run one online iteration (steps 1–5 of the module docstring); returns its metrics."""
        c = self.config
        t0 = time.perf_counter()
        self.clock.reset()
        C = self.game.num_contexts
        all_prompts = list(range(C))
        n_steps_prompts = (C // c.prompts_per_step) * c.prompts_per_step
        if n_steps_prompts == 0:
            raise ValueError(f"prompts_per_step ({c.prompts_per_step}) exceeds the number of prompts ({C})")
        mine = self._my_prompts(all_prompts)
        # 2) sample K responses per prompt from π_t
        self._gen_tokens = self._judge_queries = 0
        t_from_gen = self.anchor_t_from_generation
        samples = self._sample(self.unwrapped, mine, c.samples_per_prompt, phase=0, temperature=c.pair_temperature,
                               top_p=c.pair_top_p, with_logprobs=t_from_gen)
        lp_t = None
        if t_from_gen:
            samples, lp_t = samples
        if c.extra_responses:
            extra = [self.policy.encode_response(x) for x in c.extra_responses]
            samples = [s + extra for s in samples]
        rollouts = {ctx: _Rollout(ctx, s, [self.policy.decode(r) for r in s]) for ctx, s in zip(mine, samples)}
        # 1) snapshot: log-probs under π_t, π_ref (and histories)
        self._anchor_logprobs(list(rollouts.values()), t=lp_t)
        # 3) judge against each phase's opponent and 4) optimise, phase by phase; the history moves on
        self._step_loss()  # the iteration's loss at η_t (config.schedule)
        loss = self._realise(rollouts, mine, all_prompts[:n_steps_prompts])
        self.iteration += 1
        # 5) metrics; the evaluation runs on its own cadence and its time is reported apart
        metrics = self._iteration_row(loss, mine, t0)
        self.history.append(metrics)
        return metrics

    def train(self, resume: bool = False, stop_after: int | None = None) -> list[dict]:
        """Run up to ``config.iterations`` iterations (resuming from ``out_dir/checkpoint`` if asked), stopping early
        after ``stop_after`` iterations of this call (to test kill-and-resume). Returns all iterations' metrics,
        iteration 0 (before training) first."""
        c = self.config
        self._start(resume)
        if not self.history:
            self.history.append(self._initial_row())
            self._log(self.history[0])
        bar = None
        if self.progress and self.accelerator.is_main_process:
            from tqdm.auto import tqdm

            bar = tqdm(total=c.iterations, initial=self.iteration, desc=f"llm {c.solver}", leave=False)
        done = 0
        while self.iteration < c.iterations and (stop_after is None or done < stop_after):
            m = self.step()
            done += 1
            self._log(m)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(gap=f"{m['duality_gap']:.3f}", loss=f"{m['loss']:.3g}")
            if self.out_dir and ((c.checkpoint_every and self.iteration % c.checkpoint_every == 0)
                                 or self.iteration == c.iterations):
                self.save_checkpoint(os.path.join(self.out_dir, "checkpoint"))
        if bar is not None:
            bar.close()
        return self.history
