"""On-policy sampling of ``K`` responses per prompt (temperature, top-p), reproducible from a seed.

Two paths:

* ``fast`` (the default, ``path="auto"``): a hand-written decoding loop, batched over all prompts. On CUDA it runs
  over a pre-allocated static KV cache whose one-token decode step is ``torch.compile``-d with CUDA graphs
  (``mode="reduce-overhead"``); on CPU uncompiled with a dynamic cache, stopping once every row has ended, so its
  logic is tested here (greedy decoding equals ``generate``'s; sampled first-token frequencies match the softmax).
  Measured on CPU against one ``generate`` call of the same batch it is as fast or faster (``scripts/bench_llm.py``).
* ``plain``: ``model.generate``, one call per prompt (the reference path). Its rows sample through the same
  per-row generators (a logits processor draws each token, ``generate`` then decodes greedily), so both paths
  give the same responses for the same seeds, up to floating-point ties.

Sampling with temperature ``τ`` and nucleus ``p``: ``z ← logits/τ``; keep the smallest set of tokens whose
probabilities sum to ≥ ``p`` (the most probable first); renormalise; sample. ``τ = 0`` is greedy.

All prompts × samples of a call decode as one batch (left-padded; each distinct prompt is prefilled once and its KV
cache repeated to its ``K`` rows). Every row still draws from its own stream: row ``k`` of prompt ``c`` samples by
Gumbel-max, ``y = argmax_v (z_v + G_v)`` with ``G_v = −log(−log U_v)`` and ``U`` from a generator seeded by
``(seeds[c], k)``, which is an exact draw from ``softmax(z)``. So a response depends only on its prompt's seed and
its index — not on which other prompts share the batch, or on the process (one process == two under DDP).

Returned responses are token lists cut after the first EOS (EOS kept, so its probability is part of
``log π(y|x)``); a response that hit ``max_new_tokens`` has no EOS.
"""

from __future__ import annotations

from typing import Sequence

import torch


def _cut(seq: Sequence[int], eos: int, pad: int) -> list[int]:
    out = []
    for t in seq:
        t = int(t)
        out.append(t)
        if t == eos:
            break
    # generate pads finished rows with pad (== eos for some models); strip trailing pads that follow nothing
    return out if out else [eos]


def _left_pad(prompt_ids: Sequence[Sequence[int]], pad: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    T = max(len(p) for p in prompt_ids)
    ids = torch.full((len(prompt_ids), T), pad, dtype=torch.long)
    att = torch.zeros((len(prompt_ids), T), dtype=torch.long)
    for b, p in enumerate(prompt_ids):
        ids[b, T - len(p):] = torch.tensor(list(p))
        att[b, T - len(p):] = 1
    return ids.to(device), att.to(device)


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Set to −inf the logits outside the nucleus: the smallest most-probable set with mass ≥ ``top_p``. ``[..., V]``."""
    if top_p >= 1.0:
        return logits
    sorted_logits, idx = torch.sort(logits, descending=True, dim=-1)
    probs = torch.softmax(sorted_logits.float(), -1)
    cum = probs.cumsum(-1)
    remove = cum - probs >= top_p  # mass strictly before this token already reaches top_p
    sorted_logits = sorted_logits.masked_fill(remove, float("-inf"))
    return torch.full_like(logits, float("-inf")).scatter(-1, idx, sorted_logits)


def row_seeds(seeds: Sequence[int], num_samples: int) -> list[int]:
    """The seed of row ``k`` of prompt ``c``: ``SeedSequence([seeds[c] (64 bits), k])``, in ``[C·K]`` row order."""
    import numpy as np

    out = []
    for s in seeds:
        s = int(s)
        states = np.random.SeedSequence([s & 0xFFFFFFFF, (s >> 32) & 0xFFFFFFFF, 0]).spawn(num_samples)
        out += [int(st.generate_state(1, np.uint64)[0] >> 1) for st in states]
    return out


class RowSampler:
    """Samples one token per row by Gumbel-max from per-row generators (see the module docstring).

    ``torch.multinomial`` on the batch would make a row's draw depend on the rows before it; one generator per row
    keeps every response addressable by ``(prompt seed, k)``.
    """

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float, device) -> None:
        self.temperature, self.top_p = temperature, top_p
        gdev = device if torch.device(device).type == "cuda" else "cpu"
        self.gens = [torch.Generator(device=gdev).manual_seed(int(s)) for s in seeds]
        self.gdev, self.device = gdev, device

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """``[B]`` tokens from ``[B, V]`` logits."""
        if self.temperature == 0:
            return logits.argmax(-1)
        z = top_p_filter(logits.float() / self.temperature, self.top_p)
        V = z.shape[-1]
        u = torch.stack([torch.rand(V, generator=g, device=self.gdev) for g in self.gens]).to(z.device)
        gumbel = -torch.log(-torch.log(u.clamp_min(torch.finfo(u.dtype).tiny)))
        return (z + gumbel).argmax(-1)


def sample_responses(policy, prompt_ids: Sequence[Sequence[int]], num_samples: int, *, max_new_tokens: int = 8,
                     temperature: float = 1.0, top_p: float = 1.0, seed: int | Sequence[int] = 0, model=None,
                     path: str = "auto", batch_size: int = 1024, return_logprobs: bool = False):
    """``K = num_samples`` responses per prompt from ``model`` (default ``policy.model``).

    Args:
        policy: :class:`~nashlab.llm_bridge.policy.SequencePolicy` (pad / EOS ids).
        prompt_ids: ``C`` token lists.
        num_samples: ``K ≥ 1``.
        max_new_tokens, temperature, top_p: decoding settings (``temperature = 0``: greedy).
        seed: one seed per prompt (a sequence of ``C``), or one int for all (prompt ``c`` then gets ``seed + c``).
            The global torch RNG is left untouched.
        path: ``"fast"`` (:func:`decode_loop`, batched over all prompts), ``"plain"`` (``model.generate`` per
            prompt, the reference path) or ``"auto"`` (fast).
        batch_size: rows decoded together (whole prompts' ``K`` rows at a time).
        return_logprobs: also return each response's ``log π(y|x)`` under ``model`` (untempered, summed up to and
            including EOS), read off the decoding's own logits (fast path only; ``None`` on the plain path).

    Returns:
        ``[C][K]`` token lists (and, with ``return_logprobs``, ``[C]`` float32 tensors ``[K]``).
    """
    if not (isinstance(num_samples, int) and num_samples >= 1):
        raise ValueError(f"num_samples must be an integer ≥ 1; got {num_samples!r}")
    if not temperature >= 0:
        raise ValueError(f"temperature must be ≥ 0; got {temperature!r}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must lie in (0, 1]; got {top_p!r}")
    if path not in ("auto", "plain", "fast"):
        raise ValueError(f"path must be 'auto', 'plain' or 'fast'; got {path!r}")
    seeds = [int(seed) + c for c in range(len(prompt_ids))] if isinstance(seed, int) else [int(s) for s in seed]
    if len(seeds) != len(prompt_ids):
        raise ValueError(f"seed must be one int or one seed per prompt; got {len(seeds)} for {len(prompt_ids)}")
    model = policy.model if model is None else model
    device = next(model.parameters()).device
    out: list[list[list[int]]] = []
    lps: list[torch.Tensor] | None = None if path == "plain" else []
    was_training = model.training
    if was_training:  # eval() and train() each walk every module: skip both when the model is already in eval mode
        model.eval()
    with torch.no_grad():
        if path == "plain":
            for p, s in zip(prompt_ids, seeds):
                out.append(_generate_plain(policy, model, [list(p)] * num_samples, max_new_tokens, temperature,
                                           top_p, device, seeds=row_seeds([s], num_samples)))
        else:
            per = max(1, batch_size // num_samples)
            for c0 in range(0, len(prompt_ids), per):
                chunk = [list(p) for p in prompt_ids[c0:c0 + per]]
                rows, lp = decode_loop(policy, model, chunk, max_new_tokens, temperature, top_p, device,
                                       repeats=num_samples, seeds=row_seeds(seeds[c0:c0 + per], num_samples),
                                       return_logprobs=True)
                out += [rows[c * num_samples:(c + 1) * num_samples] for c in range(len(chunk))]
                lps += list(lp.cpu().view(len(chunk), num_samples))
    if was_training:
        model.train()
    return (out, lps) if return_logprobs else out


class _RowSamplerProcessor:
    """A ``transformers`` logits processor that draws every row's next token with :class:`RowSampler` (per-row
    generators) and returns logits that are 0 at the drawn token and −inf elsewhere, so that ``generate``'s greedy
    step picks the drawn token: ``generate`` then samples without ever touching the global torch RNG, with the draws
    of the fast path (the same stream per row, ``V`` uniforms per row per step, until every row has ended)."""

    def __init__(self, sampler: RowSampler) -> None:
        self.sampler = sampler

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        tok = self.sampler(scores)
        return torch.full_like(scores, float("-inf")).scatter(-1, tok[:, None], 0.0)


def _generate_plain(policy, model, prompts, max_new_tokens, temperature, top_p, device, seeds=None):
    """``model.generate`` on ``prompts``: greedy at ``temperature = 0``; otherwise every row ``b`` samples from its
    own generator seeded by ``seeds[b]`` (:class:`_RowSamplerProcessor`), never from the global RNG."""
    from transformers import LogitsProcessorList

    ids, att = _left_pad(prompts, policy.pad_token_id, device)
    kw = dict(max_new_tokens=max_new_tokens, pad_token_id=policy.pad_token_id, eos_token_id=policy.eos_token_id,
              do_sample=False, temperature=None, top_p=None, top_k=None)
    if temperature != 0:
        if seeds is None or len(seeds) != len(prompts):
            raise ValueError(f"seeds: one per row needed ({len(prompts)}); got {seeds!r}")
        kw["logits_processor"] = LogitsProcessorList(
            [_RowSamplerProcessor(RowSampler(seeds, temperature, top_p, device))])
    gen = model.generate(input_ids=ids, attention_mask=att, **kw)
    new = gen[:, ids.shape[1]:].tolist()
    return [_cut(r, policy.eos_token_id, policy.pad_token_id) for r in new]


_COMPILED: dict = {}


def decode_loop(policy, model, prompts, max_new_tokens, temperature, top_p, device, *, repeats: int = 1,
                seeds: Sequence[int] | None = None, return_logprobs: bool = False):
    """Hand-written decoding: one prefill, then one token per step from the KV cache.

    ``prompts`` are prefilled once each and their cache repeated to ``repeats`` rows per prompt (rows in order
    ``[p0]·repeats, [p1]·repeats, …``); ``seeds`` (one per row) give every row its own stream (:class:`RowSampler`),
    else the global torch RNG samples the batch. On CUDA the cache is ``transformers.StaticCache`` (fixed shapes) and
    the decode step is compiled with ``mode="reduce-overhead"`` (CUDA graphs); on CPU it is a ``DynamicCache``, eager,
    and decoding stops once every row has emitted EOS. Finished rows are cut at their EOS afterwards.
    ``return_logprobs``: also ``[B]`` float32 ``Σ_k log softmax(z_k)[y_k]`` of the untempered logits over each row's
    tokens up to and including its EOS (the sequence log-prob of the returned response, free here).
    """
    from transformers import DynamicCache, StaticCache

    if repeats == 1 and len(prompts) > 1 and all(p == prompts[0] for p in prompts):
        prompts, repeats = prompts[:1], len(prompts)  # one prompt repeated: prefill it once
    ids, att = _left_pad(prompts, policy.pad_token_id, device)
    C, T0 = ids.shape
    B = C * repeats
    cuda = device.type == "cuda"
    pos = (att.cumsum(-1) - 1).clamp_min(0)
    if repeats > 1:
        att, pos = att.repeat_interleave(repeats, 0), pos.repeat_interleave(repeats, 0)
    full_att = torch.cat([att, torch.ones((B, max_new_tokens), dtype=att.dtype, device=device)], 1)
    if cuda:
        cache = StaticCache(config=model.config, max_cache_len=T0 + max_new_tokens)
        rep = lambda x: x.repeat_interleave(repeats, 0)  # noqa: E731 - a static cache is sized by its first use
        out = model(input_ids=rep(ids), attention_mask=att, position_ids=pos, use_cache=True,
                    cache_position=torch.arange(T0, device=device), logits_to_keep=1, **{_cache_kw(model): cache})
        logits = out.logits[:, -1]
    else:
        cache = DynamicCache()
        out = model(input_ids=ids, attention_mask=att[::repeats], position_ids=pos[::repeats], use_cache=True,
                    cache_position=torch.arange(T0, device=device), logits_to_keep=1, **{_cache_kw(model): cache})
        if repeats > 1:
            cache.batch_repeat_interleave(repeats)
        logits = out.logits[:, -1].repeat_interleave(repeats, 0)
    sample = RowSampler(seeds, temperature, top_p, device) if seeds is not None else \
        (lambda z: _sample(z, temperature, top_p))
    if seeds is not None and len(seeds) != B:
        raise ValueError(f"seeds: one per row needed ({B}); got {len(seeds)}")
    step = _decode_step(model) if cuda else _eager_step(model)
    next_pos = pos[:, -1:] + 1
    tokens = []
    done = torch.zeros(B, dtype=torch.bool, device=device)
    lp_sum = torch.zeros(B, dtype=torch.float32, device=device)
    for k in range(max_new_tokens):
        tok = sample(logits)  # [B]
        tokens.append(tok)
        if return_logprobs:
            z = logits.float()
            lp = z.gather(-1, tok[:, None]).squeeze(-1) - torch.logsumexp(z, -1)
            lp_sum += torch.where(done, torch.zeros_like(lp), lp)
        done = done | (tok == policy.eos_token_id)
        if k == max_new_tokens - 1:
            break
        if not cuda and bool(done.all()):  # a host sync per token is free on CPU; on CUDA it would stall the graphs
            break
        cp = torch.tensor([T0 + k], device=device)
        # static cache: the mask keeps its full fixed shape (future slots are hidden by the causal mask)
        step_att = full_att if cuda else full_att[:, :T0 + k + 1]
        logits = step(tok[:, None], step_att, next_pos, cache, cp)
        next_pos = next_pos + 1
    gen = torch.stack(tokens, 1).tolist()
    rows = [_cut(r, policy.eos_token_id, policy.pad_token_id) for r in gen]
    return (rows, lp_sum) if return_logprobs else rows


def _cache_kw(model) -> str:
    """transformers ≥ 5.2x renames ``past_key_values`` to ``cache``; use whichever ``forward`` declares."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _eager_step(model):
    kw = _cache_kw(model)

    def step(tok, att, pos, cache, cache_position):
        return model(input_ids=tok, attention_mask=att, position_ids=pos, use_cache=True,
                     cache_position=cache_position, **{kw: cache}).logits[:, -1]
    return step


def _decode_step(model):  # pragma: no cover - CUDA only
    key = id(model)
    if key not in _COMPILED:
        _COMPILED[key] = torch.compile(_eager_step(model), mode="reduce-overhead", fullgraph=False)
    return _COMPILED[key]


def _sample(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    if temperature == 0:
        return logits.argmax(-1)
    z = top_p_filter(logits.float() / temperature, top_p)
    return torch.multinomial(torch.softmax(z, -1), 1).squeeze(-1)


def sample_mixture(policy, prompt_ids, num_samples: int, model, ref_model, alpha: float, *, max_new_tokens: int = 8,
                   temperature: float = 1.0, top_p: float = 1.0,
                   seed: int | Sequence[int] = 0) -> list[list[list[int]]]:
    """Samples from the token-level geometric mixture ``softmax((1−α) z_θ + α z_ref)`` of two models' next-token
    logits (Nash-MD-PG's and TRL's realisation of ``π^μ ∝ π_θ^{1−α} π_ref^{α}``; exact for one-token responses).

    ``seed``: one per prompt (or one int: prompt ``c`` gets ``seed + c``); rows draw as in :func:`sample_responses`.

    Returns:
        ``[C][K]`` token lists (cut after EOS).
    """
    from transformers import DynamicCache

    seeds = [int(seed) + c for c in range(len(prompt_ids))] if isinstance(seed, int) else [int(s) for s in seed]
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must lie in [0, 1]; got {alpha!r}")
    device = next(model.parameters()).device
    flat = [list(p) for p in prompt_ids for _ in range(num_samples)]
    kw_m, kw_r = _cache_kw(model), _cache_kw(ref_model)
    sample = RowSampler(row_seeds(seeds, num_samples), temperature, top_p, device)
    with torch.no_grad():
        ids, att = _left_pad(flat, policy.pad_token_id, device)
        B, T0 = ids.shape
        pos = (att.cumsum(-1) - 1).clamp_min(0)
        caches = [DynamicCache(), DynamicCache()]
        z = [m(input_ids=ids, attention_mask=att, position_ids=pos, use_cache=True, **{kw: cch}).logits[:, -1]
             for m, kw, cch in zip((model, ref_model), (kw_m, kw_r), caches)]
        tokens = []
        next_pos = pos[:, -1:] + 1
        for k in range(max_new_tokens):
            logits = (1 - alpha) * z[0].float() + alpha * z[1].float()
            tok = sample(logits)
            tokens.append(tok)
            if k == max_new_tokens - 1:
                break
            att = torch.cat([att, torch.ones((B, 1), dtype=att.dtype, device=device)], 1)
            z = [m(input_ids=tok[:, None], attention_mask=att, position_ids=next_pos, use_cache=True,
                   **{kw: cch}).logits[:, -1] for m, kw, cch in zip((model, ref_model), (kw_m, kw_r), caches)]
            next_pos = next_pos + 1
    gen = torch.stack(tokens, 1).tolist()
    out = [_cut(r, policy.eos_token_id, policy.pad_token_id) for r in gen]
    return [out[c * num_samples:(c + 1) * num_samples] for c in range(len(prompt_ids))]
