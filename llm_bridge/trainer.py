"""The online NLHF loop on a causal LM: snapshot, sample, judge, build pairs, optimise; on one device or many.

One iteration ``t`` (numbered steps match the code):

1. Snapshot: the log-probs of ``π_t`` (and of ``π_ref`` and history iterates, whichever the loss reads) are computed
   once, before any parameter moves, for every sampled response — no copy of the model is trained against.
2. Sample ``K`` responses per prompt from ``π_t`` (temperature / top-p; seeded per prompt and iteration).
3. Judge every unordered pair of a prompt's responses once (``o_ji = 1 − o_ij``) and estimate each response's win
   rate against the opponent by leave-one-out, ``ĝ(y_i) = (1/(K−1)) Σ_{k≠i} o(y_i ≻ y_k)`` (unbiased for
   ``(Pπ_t)(y_i)``); pairs are all ``i < j`` with target ``ĝ(y_i) − ĝ(y_j)``.
4. Optimise ``E`` epochs over prompt minibatches (AdamW or SGD, gradient accumulation, clipping, bf16 autocast on GPU).
   Extragradient rules (``egpo``, ``nash-mp``) then sample ``M`` opponents ``y'' ~ π_½`` per prompt, restore
   parameters and optimizer state to ``θ_t``, re-estimate ``ĝ(y_i) = (1/M) Σ_m o(y_i ≻ y''_m)`` and optimise again
   (see :mod:`nashlab.llm_bridge.losses`); ``nash-md`` takes its opponents from the token-level mixture.
5. Metrics (main process), every ``eval_every`` iterations (and the last): exact action distribution of the language game → ``duality_gap``, ``reg_duality_gap``,
   ``kl_to_nash``, and the same of the suffix-average policy (``avg_*``, :meth:`OnlineTrainer._suffix_average`); ``win_rate_vs_ref = mean_c πᵀP⁺π_ref``; ``kl_to_ref`` (sequence level: the Monte-Carlo estimate
   ``mean log π_{t+1}(y)/π_ref(y)`` over ``kl_samples`` fresh samples ``y ~ π_{t+1}`` per prompt, so every metric of
   a row is of the same policy) and ``action_kl_to_ref``; every row: loss, tokens/s, and the wall time of the
   iteration split into generation, scoring (anchor log-probs), judging, optimisation and evaluation
   (``seconds_<phase>``; ``seconds_per_iteration`` is the iteration without evaluation). Written to
   ``metrics.csv`` and TensorBoard (``tb/``).

Batching: each sampling step is one generation call for all of a process's prompts × samples, and each anchor
model scores all responses of the iteration in padded forwards chunked by :data:`SCORE_TOKEN_BUDGET` token
positions (the shared-prompt path only where :func:`share_prompt_wins`).
6. Checkpoint (``checkpoint/``): safetensors weights (policy, reference, histories), optimizer state, ``state.json``
   (iteration, metrics so far, config), RNG states (torch, numpy, python) in JSON: no pickle
   (:mod:`nashlab.llm_bridge.checkpoint`). Resuming gives the same numbers as an
   uninterrupted run (every random draw of iteration ``t`` is seeded from ``(seed, t, prompt, phase)``; the global RNG
   states are restored too), tested in ``tests/llm_bridge/test_trainer.py``.

Distributed (accelerate; DDP, FSDP or DeepSpeed per the launch config): each process takes its share of every
prompt minibatch; since samples and judge outcomes are seeded per prompt and every process has the same number of
pairs, the all-reduced gradient equals the single-process one (tested with 2 CPU processes). The model is kept in
eval mode (no dropout), as usual in RLHF trainers, so a step is a deterministic function of the batch.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Sequence

import numpy as np
import torch

from .generation import sample_responses
from .losses import SequenceLoss, make_sequence_loss
from .policy import SequencePolicy, collate, sequence_logprobs, shared_prompt_logprobs
from .train_config import TrainConfig

#: What a run writes in ``out_dir``; a fresh run refuses a folder holding any of them (never mixes two runs' files).
RUN_OUTPUTS = ("checkpoint", "checkpoint.tmp", "checkpoint.old", "metrics.csv", "tb")

KL_SAMPLE_PHASE = 900  # seed stream of the kl_to_ref samples (training draws use phases < 100)
#: Token positions (rows × padded length) per no-grad scoring forward: bounds the activations of one chunk.
SCORE_TOKEN_BUDGET = 32768
#: Fixed cost of one model forward in token positions, for :func:`length_buckets` (a CPU forward of the issue's
#: 2.6M-parameter Llama costs about as much as 256 more positions; on a GPU the fixed cost is larger, the rule safer).
FORWARD_OVERHEAD_TOKENS = 256
#: Phases whose wall time each row reports (``seconds_<phase>``); ``seconds_per_iteration`` is their sum less evaluation.
PHASES_TIMED = ("generation", "scoring", "judging", "optimisation", "evaluation")


def length_buckets(lengths: Sequence[int], overhead: int = FORWARD_OVERHEAD_TOKENS,
                   budget: int | None = None) -> list[tuple[int, int]]:
    """Split rows sorted by length (ascending) into contiguous chunks ``[a, b)`` that minimise the work
    ``Σ_chunks (overhead + rows · longest)`` (dynamic programming over the split points), each chunk within
    ``budget`` token positions (rows · longest) when given.

    A padded batch computes every row at the longest row's length; sampled responses end at their EOS at very
    different lengths (half the positions of 8 × 8 samples of 32 tokens were padding in ``scripts/bench_llm.py``), so
    scoring short rows with short rows saves that work for the price of one more forward per chunk.
    """
    n = len(lengths)
    if any(lengths[i] > lengths[i + 1] for i in range(n - 1)):
        raise ValueError("length_buckets needs lengths sorted ascending")
    best = [0.0] + [math.inf] * n  # best[j]: least work for rows [0, j)
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j - 1, -1, -1):  # chunk [i, j): its longest row is j - 1
            cost = (j - i) * lengths[j - 1]
            if budget is not None and cost > budget and i < j - 1:
                break
            if best[i] + overhead + cost < best[j]:
                best[j], cut[j] = best[i] + overhead + cost, i
    chunks, j = [], n
    while j > 0:
        chunks.append((cut[j], j))
        j = cut[j]
    return chunks[::-1]


def share_prompt_wins(prompt_lengths: Sequence[int], samples: int, response_length: int) -> bool:
    """The rule ``share_prompt = "auto"`` applies: share a prompt's forward when that at least halves the token
    positions scored, ``Σ_c (P_c + K·L) ≤ ½ · C·K·(P_max + L)``.

    The shared path runs two forwards per prompt (the prompt, then its K responses on the repeated cache) against
    padded forwards over all prompts. Measured on CPU (1 thread, 8 prompts, random-init Llama, time shared / padded,
    alternating runs), the rule picks the faster path in each case:

    ===============  ======  ==  ========  =============  ===========
    model            prompt  K   response  shared/padded  rule shares
    ===============  ======  ==  ========  =============  ===========
    256 × 4 layers   3       2   3         4.05           no
    512 × 8 layers   3       8   32        0.98           no
    256 × 4 layers   30      8   8         0.66           yes
    256 × 4 layers   60      8   4         0.39           yes
    512 × 8 layers   60      8   4         0.26           yes
    256 × 4 layers   100     16  3         0.16           yes
    ===============  ======  ==  ========  =============  ===========
    """
    C = len(prompt_lengths)
    shared = sum(prompt_lengths) + C * samples * response_length
    padded = C * samples * (max(prompt_lengths) + response_length)
    return C > 0 and shared <= padded / 2


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
            return _nullcontext()

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


class OnlineTrainer:
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
        hp = self.loss.hparams
        if config.solver == "td-mnpo":
            self.histories = len(hp["lam"]) - 1  # π_{t-1} .. π_{t-H+1}
        elif config.solver == "mnpo":
            self.histories = int(hp["num_players"]) - 2  # π_{t-1} .. π_{t-N+2}
        else:
            self.histories = 0
        model = policy.model.to(accelerator.device)
        # π_ref: a frozen copy of the initial model (its log-probs only).
        self.ref_model = copy.deepcopy(model).eval().requires_grad_(False)
        # CPU state dicts of π_{t-1}, π_{t-2}, ...; iterates before the start are π_0 (one shared dict).
        init_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()} if self.histories \
            else None
        self.history_states: list[dict] = [init_state] * self.histories
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
        if config.feedback == "exact":
            from .judges import KnownNashJudge

            if not (isinstance(judge, KnownNashJudge) and judge.game is game):
                raise ValueError("feedback = 'exact' needs the known-Nash judge of the trained game "
                                 f"(got {type(judge).__name__}); use feedback = 'sampled'")
            if self.loss.opponent == "mixture":
                raise ValueError(f"feedback = 'exact' is not available for {config.solver} (its opponent is a "
                                 "token-level mixture without an exact action distribution); use 'sampled'")

    # ------------------------------------------------------------------ setup helpers

    def _make_optimizer(self, model):
        c = self.config
        params = [p for p in model.parameters() if p.requires_grad]
        if c.optimizer == "sgd":
            return torch.optim.SGD(params, lr=c.lr, weight_decay=c.weight_decay)
        return adamw(params, lr=c.lr, weight_decay=c.weight_decay, betas=tuple(c.adam_betas))

    @property
    def on_policy_pairs(self) -> bool:
        """The K training responses are samples of π_t itself (so leave-one-out win rates are valid)."""
        c = self.config
        return (c.pair_temperature in (None, c.temperature) and c.pair_top_p in (None, c.top_p)
                and not c.extra_responses)

    @property
    def unwrapped(self):
        return self._unwrapped

    def _scratch_model(self, state: dict):
        """A model holding a history state dict (built lazily, reused)."""
        if not hasattr(self, "_scratch"):
            self._scratch = copy.deepcopy(self.ref_model)
        self._scratch.load_state_dict(state)
        return self._scratch

    # ------------------------------------------------------------------ one iteration

    def _my_prompts(self, prompts: Sequence[int]) -> list[int]:
        """This process's share of a global prompt list (strided)."""
        return list(prompts)[self.rank::self.world]

    @property
    def anchor_t_from_generation(self) -> bool:
        """Whether ``log π_t(y)`` of the K samples is read off the decoding's own logits instead of a scoring
        forward: the samples are π_t's (phase 0), generated by the fast path, in float32 without autocast or
        compilation (so the numbers are those of the scoring forward up to float rounding, ~1e-6; tested), and no
        extra responses need scoring. Saves one forward of the model over all pairs per iteration."""
        c = self.config
        return (c.generation_path != "plain" and not c.compile and not c.extra_responses
                and str(self.accelerator.mixed_precision) == "no"
                and next(self.unwrapped.parameters()).dtype == torch.float32)

    @torch.no_grad()
    def _anchor_logprobs(self, rollouts: list[_Rollout], t: torch.Tensor | None = None) -> None:
        """Fill ``rollout.anchors[key]`` (``[K]``) for every key the loss reads, under the current (π_t) model
        (``t``: the ``[Σ K]`` log-probs under π_t when already known)."""
        needed = set(self.loss.anchors) | {"t", "ref"}  # t and ref also feed the KL metric
        with self.clock("scoring"):
            self._anchor_logprobs_timed(rollouts, needed, t)

    def _anchor_logprobs_timed(self, rollouts: list[_Rollout], needed: set, t: torch.Tensor | None) -> None:
        if t is None:
            t = self._logprobs(self._fit_model if self.config.compile else self.unwrapped, rollouts)
        out = {"t": t.to(self.accelerator.device), "ref": self._logprobs(self._ref_scorer, rollouts)}
        if needed & {"hist", "opp"}:
            # columns π_t, π_{t-1}, ...: [N, 1 + histories]; a state shared by several slots is scored once
            cols, seen = [out["t"]], {}
            for st in self.history_states:
                if id(st) not in seen:
                    seen[id(st)] = self._logprobs(self._scratch_model(st), rollouts)
                cols.append(seen[id(st)])
            out["hist"] = out["opp"] = torch.stack(cols, -1)
        unknown = needed - set(out)
        if unknown:
            raise ValueError(f"the {self.loss.name} loss reads log_pi_{sorted(unknown)[0]}_*, which the trainer "
                             f"does not know")
        k0 = 0
        for r in rollouts:
            K = len(r.responses)
            r.anchors = {key: v[k0:k0 + K] for key, v in out.items()}
            k0 += K

    def _share_prompt(self, rollouts: list[_Rollout]) -> bool:
        c = self.config
        if self.world > 1 or c.share_prompt is False:
            return False
        if c.share_prompt is True:
            return True
        K = max(len(r.responses) for r in rollouts)
        L = max(len(y) for r in rollouts for y in r.responses)
        return share_prompt_wins([len(self.prompt_ids[r.context]) for r in rollouts], K, L)

    def _logprobs(self, model, rollouts: list[_Rollout], grad: bool = False, normalize: bool | None = None
                  ) -> torch.Tensor:
        """``[Σ K]`` sequence log-probs of the rollouts' responses (in order) under ``model`` (length-normalised as
        the config says, unless ``normalize`` is given): padded batches over all prompts' responses, sorted by
        length and cut where that saves work (:func:`length_buckets`; without gradients, chunks of at most
        :data:`SCORE_TOKEN_BUDGET` token positions), or one shared-prompt forward per prompt
        (:attr:`TrainConfig.share_prompt`)."""
        norm = self.config.normalize_logprobs if normalize is None else normalize
        ctx = _nullcontext() if grad else torch.no_grad()
        with ctx, self.accelerator.autocast():
            if self._share_prompt(rollouts):
                out = torch.cat([shared_prompt_logprobs(model, self.prompt_ids[r.context], r.responses,
                                                        normalize=norm) for r in rollouts])
            else:
                prompts = [self.prompt_ids[r.context] for r in rollouts for _ in r.responses]
                resps = [resp for r in rollouts for resp in r.responses]
                lengths = [len(p) + len(y) for p, y in zip(prompts, resps)]
                order = sorted(range(len(resps)), key=lambda i: lengths[i])
                if grad and self.world > 1:  # DDP: one forward per backward
                    chunks = [(0, len(order))]
                else:
                    chunks = length_buckets([lengths[i] for i in order], budget=None if grad else SCORE_TOKEN_BUDGET)
                outs = []
                for a, b in chunks:
                    idx = order[a:b]
                    batch = collate([prompts[i] for i in idx], [resps[i] for i in idx], self.policy.pad_token_id,
                                    "left")
                    outs.append(sequence_logprobs(model, batch.to(self.accelerator.device), normalize=norm))
                inverse = torch.empty(len(order), dtype=torch.long)
                inverse[torch.tensor(order)] = torch.arange(len(order))
                out = torch.cat(outs)[inverse.to(outs[0].device)]
        return out if grad else out.detach()

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
        with self.clock("judging"):
            o = self.judge.compare([r.context] * iu.shape[1], [prompt] * iu.shape[1], [r.texts[i] for i in iu[0]],
                                   [r.texts[j] for j in iu[1]],
                                   seed=derive_seed(self.config.seed, self.iteration, r.context, 100 + phase))
        W = torch.zeros(K, K, dtype=torch.float64)
        W[iu[0], iu[1]] = o.double()
        W[iu[1], iu[0]] = 1.0 - o.double()
        return W.sum(1) / (K - 1)

    def _judge_against(self, r: _Rollout, opp_texts: list[str], phase: int) -> torch.Tensor:
        """``ĝ(y_i) = (1/M) Σ_m o(y_i ≻ y''_m)``: every sample against every opponent response."""
        K, M = len(r.texts), len(opp_texts)
        ys = [r.texts[i] for i in range(K) for _ in range(M)]
        yo = [opp_texts[m] for _ in range(K) for m in range(M)]
        with self.clock("judging"):
            o = self.judge.compare([r.context] * (K * M), [self.game.prompts[r.context]] * (K * M), ys, yo,
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
            mine.append(r)
        return {r.context: r for r in gather_object(mine)}

    def _win_rates(self, rollouts: list[_Rollout], opponent: str, phase: int) -> list[torch.Tensor]:
        """``[K]`` estimates of ``(Pπ_opp)(y_i)`` for the rule's opponent, one per rollout.

        ``"t"``: leave-one-out over the K self-play samples (M fresh samples of π_t when the pairs are not
        on-policy); ``"half"``: M samples of the current model (π_½); ``"players"``: mean over π_t and the history
        iterates (M samples each); ``"mixture"``: M samples of the token-level mixture ``(1−ηβ) z_t + ηβ z_ref``.
        Each draw is seeded by ``(seed, iteration, prompt, phase, opponent)``; the opponents of all prompts are
        sampled in one batched call per opponent model.
        """
        c = self.config
        if c.feedback == "exact":
            with self.clock("judging"):
                return [self._exact_win_rates(r, opponent) for r in rollouts]
        if opponent == "t" and self.on_policy_pairs:
            return [self._judge_pairs(r, phase) for r in rollouts]
        if opponent == "t" or opponent == "half":  # π_t before the fit; π_½ after the half step
            models = [self.unwrapped]
        elif opponent == "players":
            models = [self._scratch_model(st) for st in self.history_states]
        elif opponent == "mixture":
            models = [None]
        else:  # pragma: no cover - PHASES lists only these
            raise ValueError(f"unknown opponent kind {opponent!r}")
        g = []
        if opponent == "players":  # π_t first, then the history iterates
            g.append(self._win_rates(rollouts, "t", phase))
        contexts = [r.context for r in rollouts]
        for j, model in enumerate(models):
            if model is None:
                key = 20 + phase
                alpha = float(self.hparams["eta"]) * float(self.hparams["beta"])
                opp = self._sample(self.unwrapped, contexts, c.opponent_samples, phase=key,
                                   mixture_with=(self.ref_model, alpha))
            else:
                key = 10 * (phase + 1) + (30 + j if opponent == "players" else 0)
                if opponent == "players":  # the scratch model is shared: load history j before sampling
                    model = self._scratch_model(self.history_states[j])
                opp = self._sample(model, contexts, c.opponent_samples, phase=key)
            g.append([self._judge_against(r, [self.policy.decode(o) for o in opp_r], phase=key)
                      for r, opp_r in zip(rollouts, opp)])
        return [torch.stack([gj[i] for gj in g]).mean(0) for i in range(len(rollouts))]

    def _exact_pi(self, iteration: int) -> torch.Tensor:
        """``[C, n+1]`` exact action distribution of ``π_s`` for ``s ≤ t`` (recorded in :attr:`history` by
        :meth:`evaluate`); during an extragradient half step, ``s = t`` means the current model ``π_½``."""
        if iteration == self.iteration and self._half_pi is not None:
            return self._half_pi
        if iteration >= len(self.history):  # step() called without train(): π_t not evaluated yet
            return self.game.exact_action_distribution(self.policy, self.unwrapped)
        return torch.as_tensor(self.history[iteration]["pi"], dtype=torch.float64)

    def _exact_win_rates(self, r: _Rollout, opponent: str) -> torch.Tensor:
        """``g(y_i) = mean_opp Σ_a P⁺[c, a(y_i), a] π_opp(c, a)`` (``feedback = "exact"``)."""
        t = self.iteration
        if opponent == "players":  # π_t, π_{t-1}, ..., π_{t-N+2}; iterates before the start are π_0
            pis = [self._exact_pi(max(t - j, 0)) for j in range(1 + self.histories)]
        else:  # "t" before the fit, "half" (π_½) after the half step
            pis = [self._exact_pi(t)]
        Pa = torch.as_tensor(self.game.P_aug, dtype=torch.float64)
        Pa = Pa[r.context] if Pa.ndim == 3 else Pa
        acts = torch.tensor([self.game.parse(x) for x in r.texts], dtype=torch.long)
        return torch.stack([Pa[acts] @ pi[r.context] for pi in pis]).mean(0)

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
                    loss = self._pair_loss([rollouts_by_prompt[p] for p in mine])
                    ctx = acc.no_sync(self.model) if m < c.grad_accum - 1 else _nullcontext()
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

    def _set_log_partition(self, r: _Rollout) -> None:
        """``r.log_z = log Σ_k w_k e^{s(y_k)}`` for ``loss_form = "pointwise"`` (after ``r.win_rate`` is set)."""
        if self.config.loss_form != "pointwise":
            return
        s = self.loss.step_log_ratio({k: v.cpu() for k, v in r.anchors.items()}, r.win_rate.cpu())
        w = self._partition_weights(r)
        keep = w > 0
        r.log_z = torch.logsumexp(s[keep] + w[keep].log(), 0)

    def _pair_loss(self, rollouts: list[_Rollout]) -> torch.Tensor:
        """Mean solver loss over all pairs ``i < j`` of the given prompts (one forward for all their responses), or
        the mean pointwise residual over their responses (``loss_form = "pointwise"``)."""
        lp = self._logprobs(self._fit_model, rollouts, grad=True).float()
        if self.config.loss_form == "pointwise":
            dev, k0, sq = lp.device, 0, []
            for r in rollouts:
                K = len(r.responses)
                anc = {k: r.anchors[k].to(dev).float() for k in self.loss.anchors}
                sq.append(self.loss.pointwise(lp[k0:k0 + K], anc, r.win_rate.to(dev).float(),
                                              r.log_z.to(dev).float()))
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
            g = r.win_rate.to(dev).float()
            tg.append(g[iu[0]] - g[iu[1]])
            k0 += K
        cat = lambda xs: torch.cat(xs, 0)  # noqa: E731
        return self.loss(cat(ys), cat(yps), {k: cat(v) for k, v in ay.items()}, {k: cat(v) for k, v in ayp.items()},
                         cat(tg))

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
        self._gen_tokens = 0
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
        # 3) judge: win-rate estimates against the rule's opponent
        phases, opponent = self.loss.phases, self.loss.opponent
        for r, g in zip(rollouts.values(), self._win_rates(list(rollouts.values()), opponent, phase=0)):
            r.win_rate = g
            self._set_log_partition(r)
        rollouts = self._share(rollouts)
        # 4) optimise
        if c.lr_final is not None:
            frac = self.iteration / max(c.iterations - 1, 1)
            for group in self.optimizer.param_groups:
                group["lr"] = c.lr + (c.lr_final - c.lr) * frac
        if c.reset_optimizer:
            self.optimizer.state.clear()
        if self.histories:
            pre = {k: v.detach().to("cpu", copy=True) for k, v in self.unwrapped.state_dict().items()}
        if phases == 2:
            backup = ({k: v.detach().clone() for k, v in self.unwrapped.state_dict().items()},
                      copy.deepcopy(self.optimizer.state_dict()))
            self._fit(rollouts, all_prompts[:n_steps_prompts], phase=0)  # half step: θ_t → θ_½ (opponent π_t)
            if c.feedback == "exact":
                with self.clock("judging"):
                    self._half_pi = self.game.exact_action_distribution(self.policy, self.unwrapped)
            mine_r = [rollouts[ctx] for ctx in mine]  # opponents y'' ~ π_½
            for r, g in zip(mine_r, self._win_rates(mine_r, "half", phase=1)):
                r.win_rate = g
                self._set_log_partition(r)
            self._half_pi = None
            rollouts = self._share({ctx: rollouts[ctx] for ctx in mine})
            self.unwrapped.load_state_dict(backup[0])  # restore θ_t and the optimizer state
            self.optimizer.load_state_dict(backup[1])
            loss = self._fit(rollouts, all_prompts[:n_steps_prompts], phase=1)  # full step θ_t → θ_{t+1}
        else:
            loss = self._fit(rollouts, all_prompts[:n_steps_prompts], phase=0)
        if self.histories:  # π_t joins the history: [π_t, π_{t-1}, ...] are π_{t'-1}, π_{t'-2}, ... at t' = t+1
            self.history_states = ([pre] + self.history_states)[:self.histories]
        self.iteration += 1
        # 5) metrics; the evaluation runs on its own cadence and its time is reported apart
        metrics = {"iteration": self.iteration, "loss": loss, "kl_to_ref": float("nan"),
                   # generation throughput of this process (all processes decode the same amount)
                   "tokens_per_second": self._gen_tokens * self.world / max(self.clock.seconds["generation"], 1e-9)}
        evaluated = {}
        if self.eval_due():
            with self.clock("evaluation"):
                evaluated = {"kl_to_ref": self._kl_to_ref(mine), **self.evaluate()}
        metrics.update(self._timings(time.perf_counter() - t0))
        metrics.update(evaluated or {k: float("nan") for k in self._eval_keys()})
        metrics.update({k: v for k, v in evaluated.items() if k == "kl_to_ref"})
        self.history.append(metrics)
        return metrics

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
                ("loss", "kl_to_ref", "tokens_per_second", "seconds") and not k.startswith("seconds_")]

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
        Pa = torch.as_tensor(self.game.P_aug)
        m["win_rate_vs_ref"] = float(torch.einsum("ci,cij,cj->c", pi, Pa, self._ref_pi).mean())
        m["action_kl_to_ref"] = float((pi * (pi.clamp_min(1e-300).log() - self._ref_pi.log())).sum(-1).mean())
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

    # ------------------------------------------------------------------ the loop, checkpoints

    def train(self, resume: bool = False, stop_after: int | None = None) -> list[dict]:
        """Run up to ``config.iterations`` iterations (resuming from ``out_dir/checkpoint`` if asked), stopping early
        after ``stop_after`` iterations of this call (to test kill-and-resume). Returns all iterations' metrics,
        iteration 0 (before training) first."""
        c = self.config
        if resume:
            from .checkpoint import recover

            ckpt = os.path.join(self.out_dir, "checkpoint") if self.out_dir else None
            if ckpt and self.accelerator.is_main_process:
                recover(ckpt)
            self.accelerator.wait_for_everyone()
            if not ckpt or not os.path.isdir(ckpt):
                raise FileNotFoundError(f"no checkpoint to resume in {self.out_dir!r}/checkpoint")
            self.load_checkpoint(ckpt)
            self._rewrite_metrics()
        elif self.out_dir:
            if any(os.path.exists(os.path.join(self.out_dir, f)) for f in RUN_OUTPUTS):
                raise ValueError(f"{self.out_dir} already holds a run (checkpoint or metrics); resume it, or clear it "
                                 "first (nashlab llm train --overwrite)")
            self.accelerator.wait_for_everyone()  # every process looked before the main one writes metrics.csv
        if not self.history:
            m0 = {"iteration": 0, "loss": float("nan"), "kl_to_ref": 0.0, "tokens_per_second": float("nan")}
            self.clock.reset()
            t0 = time.perf_counter()
            with self.clock("evaluation"):
                ev = self.evaluate()
            m0.update(self._timings(time.perf_counter() - t0))
            m0.update(ev)
            self.history.append(m0)
            self._log(m0)
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
        with open(path, "w" if new else "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(scalars))
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

    def save_checkpoint(self, path: str) -> None:
        """Write the checkpoint atomically (a temporary folder renamed over the old one; SIGINT and SIGTERM wait until
        the renames are done, and :func:`~nashlab.llm_bridge.checkpoint.recover` finishes them after a SIGKILL)."""
        from safetensors.torch import save_file

        from . import checkpoint as ck

        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            self.accelerator.wait_for_everyone()
            return
        import shutil

        tmp = path + ".tmp"
        if os.path.isdir(tmp):  # left by a run killed while saving
            shutil.rmtree(tmp)
        os.makedirs(tmp)
        cpu = lambda sd: {k: v.detach().to("cpu").contiguous().clone() for k, v in sd.items()}  # noqa: E731
        save_file(cpu(self.unwrapped.state_dict()), os.path.join(tmp, "model.safetensors"))
        old_ref = os.path.join(path, "ref.safetensors")
        try:  # π_ref never changes: link the previous checkpoint's file instead of rewriting it
            os.link(old_ref, os.path.join(tmp, "ref.safetensors"))
        except OSError:  # first checkpoint, or a filesystem without hard links
            save_file(cpu(self.ref_model.state_dict()), os.path.join(tmp, "ref.safetensors"))
        for h, st in enumerate(self.history_states):
            save_file(cpu(st), os.path.join(tmp, f"history_{h}.safetensors"))
        ck.save_optimizer(self.optimizer.state_dict(), tmp)
        with open(os.path.join(tmp, "rng.json"), "w", encoding="utf-8") as f:
            json.dump(ck.rng_state(), f)
        state = {"format": ck.FORMAT, "iteration": self.iteration, "history": self.history,
                 "config": _jsonable(asdict(self.config)), "hparams": _jsonable(self.hparams),
                 "num_history_states": len(self.history_states)}
        with open(os.path.join(tmp, "state.json"), "w", encoding="utf-8") as f:
            json.dump(state, f, indent=1)
        with ck.signals_deferred():
            if os.path.isdir(path):
                old = path + ".old"
                if os.path.isdir(old):
                    shutil.rmtree(old)
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old)
            else:
                os.replace(tmp, path)
        self.accelerator.wait_for_everyone()

    def load_checkpoint(self, path: str) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint`. Nothing in it is unpickled; a file that is not
        what its name says, weights of another model shape, or a different config (but for
        :data:`~nashlab.llm_bridge.run_folder.EXTENDABLE` keys) are refused with one line naming the file or key."""
        from . import checkpoint as ck
        from .run_folder import compare_configs

        ck.refuse_old_format(path)
        spath = os.path.join(path, "state.json")
        state = ck.read_json(spath)
        try:
            if not isinstance(state, dict) or state.get("format") != ck.FORMAT:
                raise ValueError(f"format {state.get('format') if isinstance(state, dict) else None!r}, "
                                 f"expected {ck.FORMAT}")
            iteration, history, stored = int(state["iteration"]), list(state["history"]), dict(state["config"])
            n_hist = int(state["num_history_states"])
            if len(history) != iteration + 1 or not all(isinstance(h, dict) for h in history):
                raise ValueError(f"{len(history)} metric rows for iteration {iteration}")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{spath} is not a checkpoint state written by this nashlab ({exc})") from None
        compare_configs({"train": stored}, {"train": _jsonable(asdict(self.config))}, where=spath,
                        done_iterations=iteration)
        if n_hist != self.histories:
            raise ValueError(f"{spath}: {n_hist} history iterates stored, the {self.config.solver} loss keeps "
                             f"{self.histories}")
        dev = self.accelerator.device
        weights = {}
        for name, model in (("model", self.unwrapped), ("ref", self.ref_model)):
            f = os.path.join(path, f"{name}.safetensors")
            weights[name] = ck.read_tensors(f)
            ck.check_fits(weights[name], model, f)
        hist = []
        for h in range(n_hist):
            f = os.path.join(path, f"history_{h}.safetensors")
            hist.append(ck.read_tensors(f))
            ck.check_fits(hist[-1], self.ref_model, f)
        self.unwrapped.load_state_dict({k: v.to(dev) for k, v in weights["model"].items()})
        self.ref_model.load_state_dict({k: v.to(dev) for k, v in weights["ref"].items()})
        self.history_states = hist
        ck.load_optimizer(self.optimizer, path)
        ck.set_rng_state(os.path.join(path, "rng.json"))
        self.iteration = iteration
        self.history = history
        self._ref_pi = None


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def _jsonable(x: Any):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, torch.Tensor):
        return x.tolist()
    return x
