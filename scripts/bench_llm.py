#!/usr/bin/env python
"""Benchmark of nashlab.llm_bridge, side by side in one run: generation tokens/s and the training step's MFU.

    .venv/bin/python scripts/bench_llm.py            # CUDA if visible, else the CPU-sized problem
    .venv/bin/python scripts/bench_llm.py --json     # last stdout line: one JSON object with every figure

Generation (same model, batch, prompts, sampling settings, warm): plain ``model.generate``; transformers' own
static-cache path (``generate(cache_implementation="static")``); nashlab's fast path
(:func:`nashlab.llm_bridge.generation.decode_loop`: static KV cache + ``torch.compile(mode="reduce-overhead")``
decode step on CUDA, shared-prompt prefill + dynamic cache on CPU). Reported as generated tokens per second and the
ratios fast/plain and fast/static.

Training step (the trainer's inner step): policy fwd+bwd on ``B`` sequences plus the reference model's forward,
bf16 autocast on CUDA. Model FLOPs per step ``= (6 + 2)·N·tokens + attention (12·L·h·T²·B for fwd+bwd, 4·… for the
reference)``; MFU = FLOPs / time / peak, with the peak bf16 dense throughput of an H100 SXM (989 TFLOP/s) on CUDA.
On CPU there is no meaningful peak: the achieved GFLOP/s is printed and the GPU figures are marked
"not measured (no CUDA)".

Problem sizes follow the issue: on CUDA a 0.37B Llama-shaped model, batch 64, 128-token prompts, 256 new tokens;
the MFU model has ~1.35B parameters. The CPU problem is scaled down (printed with the results).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

H100_BF16_PEAK = 989e12


def _llama(vocab, hidden, layers, heads, inter, seed=0, device="cpu", dtype=torch.float32):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=4096,
                      pad_token_id=0, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg).to(device=device, dtype=dtype).eval()


class _Tok:  # the minimal tokenizer interface SequencePolicy needs here
    pad_token_id, eos_token_id, bos_token_id = 0, 2, 1


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device, repeats):
    fn()  # warm-up (and compilation)
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return best


def bench_generation(device, size):
    from nashlab.llm_bridge.generation import decode_loop
    from nashlab.llm_bridge.policy import SequencePolicy

    model = _llama(size["vocab"], size["hidden"], size["layers"], size["heads"], size["inter"], device=device,
                   dtype=size["dtype"])
    # never emit EOS early: all rows decode max_new_tokens (fixed work for every path)
    model.generation_config.eos_token_id = None
    B, P, N = size["batch"], size["prompt"], size["new"]
    g = torch.Generator().manual_seed(0)
    prompts = torch.randint(3, size["vocab"], (B, P), generator=g)
    policy = SequencePolicy(model, _Tok())
    ids = prompts.to(device)
    att = torch.ones_like(ids)
    kw = dict(max_new_tokens=N, min_new_tokens=N, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
              pad_token_id=0, eos_token_id=None)
    out = {}
    with torch.no_grad():
        out["plain_generate"] = B * N / _time(lambda: model.generate(input_ids=ids, attention_mask=att, **kw), device,
                                              size["repeats"])
        try:
            out["static_cache_generate"] = B * N / _time(
                lambda: model.generate(input_ids=ids, attention_mask=att, cache_implementation="static", **kw),
                device, size["repeats"])
        except Exception as exc:  # noqa: BLE001 - report, keep benchmarking
            out["static_cache_generate"] = float("nan")
            out["static_cache_error"] = f"{type(exc).__name__}: {exc}"[:200]
        plist = prompts.tolist()
        out["fast_path"] = B * N / _time(lambda: decode_loop(policy, model, plist, N, 1.0, 1.0, device), device,
                                         size["repeats"])
        shared = [plist[0]] * B  # the trainer's case: K samples of one prompt
        out["fast_path_shared_prompt"] = B * N / _time(lambda: decode_loop(policy, model, shared, N, 1.0, 1.0, device),
                                                       device, size["repeats"])
    out["ratio_fast_vs_plain"] = out["fast_path"] / out["plain_generate"]
    out["ratio_fast_vs_static"] = out["fast_path"] / out["static_cache_generate"]
    return out


def _adamw(model):
    """AdamW as the trainer builds it (fused kernel on CUDA)."""
    from nashlab.llm_bridge.trainer import adamw

    return adamw([p for p in model.parameters() if p.requires_grad], lr=1e-5, weight_decay=0.0, betas=(0.9, 0.999))


def bench_train_step(device, size, compile_model=False):
    """MFU of one training step, three ways on the same model, batch and sequences, side by side:

    * ``plain``: float32 master weights under bf16 autocast, every position through the LM head, the full ``[B, T, V]``
      logits cast to float32 for one log-softmax, for-each AdamW (the issue's ~25% baseline);
    * ``nashlab``: the trainer's path: :func:`nashlab.llm_bridge.policy.sequence_logprobs` (LM head on response
      positions only, chunked float32 log-softmax) for the policy and the reference, AdamW as the trainer builds it;
    * ``nashlab_compiled``: the same with both models under ``torch.compile`` (CUDA, or ``--compile`` on CPU).

    FLOPs are counted for the work each path needs: ``6·N_body·B·T`` for the policy's fwd+bwd and ``2·N_body·B·T`` for
    the reference forward, plus the LM head (``6·`` / ``2·N_head·B·positions``, where positions = ``T`` for plain and
    ``L + 1`` response positions for nashlab) and attention (``12·L·h·T²·B`` fwd+bwd, a third of it forward only).
    Each path's MFU is its own FLOPs over its time over the peak; the ratio is of times (the plain path does a little
    more work: the LM head on prompt positions, 1/8 of the positions here).
    """
    from nashlab.llm_bridge.policy import SequenceBatch, sequence_logprobs

    make = lambda dtype: _llama(size["vocab"], size["t_hidden"], size["t_layers"], size["t_heads"],  # noqa: E731
                                size["t_inter"], device=device, dtype=dtype)
    cuda = device.type == "cuda"
    model, ref = make(torch.float32), make(torch.bfloat16 if cuda else torch.float32)
    model.train()
    B, T, R = size["t_batch"], size["t_seq"], size["t_response"]
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, size["vocab"], (B, T), generator=g).to(device)
    att = torch.ones_like(ids)
    rmask = torch.zeros_like(ids, dtype=torch.bool)
    rmask[:, T - R:] = True
    batch = SequenceBatch(ids, att, rmask, torch.arange(T, device=device).expand(B, T).contiguous(), "left")
    head = model.get_output_embeddings().weight.numel()
    body = sum(p.numel() for p in model.parameters() if p.dim() > 1) - model.get_input_embeddings().weight.numel() \
        - head
    L, h = size["t_layers"], size["t_hidden"]
    attn = 12 * L * h * T * T * B  # QKᵀ and AV, fwd+bwd (causal halving ignored, as in the PaLM MFU convention)
    useful = 8 * body * B * T + 8 * head * B * (R + 1) + attn + attn / 3
    plain_flops = 8 * body * B * T + 8 * head * B * T + attn + attn / 3
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else \
        (lambda: torch.autocast("cpu", enabled=False))

    def plain_step(m, r, opt):
        with torch.no_grad(), autocast():
            ref_logits = r(input_ids=ids).logits
        with autocast():
            logits = m(input_ids=ids).logits
        lp = torch.log_softmax(logits.float(), -1)[..., :-1, :].gather(-1, ids[:, 1:, None]).squeeze(-1)
        loss = -(lp * rmask[:, 1:]).sum() / (B * R) + 0.0 * ref_logits.float().mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def nashlab_step(m, r, opt):
        with torch.no_grad(), autocast():
            ref_lp = sequence_logprobs(r, batch)
        with autocast():
            lp = sequence_logprobs(m, batch)
        loss = ((lp - ref_lp) ** 2).mean() / R
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    out = {"train_params": body + head, "train_tokens_per_step": B * T, "train_response_tokens": R,
           "train_plain_flops": plain_flops, "train_useful_flops": useful}
    variants = [("plain", plain_step, False), ("nashlab", nashlab_step, False)]
    if cuda or compile_model:
        variants.append(("nashlab_compiled", nashlab_step, True))
    for name, fn, comp in variants:
        m, r = (torch.compile(model), torch.compile(ref)) if comp else (model, ref)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5) if name == "plain" else _adamw(model)
        try:
            sec = _time(lambda: fn(m, r, opt), device, size["repeats"])
        except Exception as exc:  # noqa: BLE001 - report, keep benchmarking
            out[f"train_{name}_error"] = f"{type(exc).__name__}: {exc}"[:300]
            sec = float("nan")
        out[f"train_{name}_seconds"] = sec
        flops = plain_flops if name == "plain" else useful
        out[f"train_{name}_flops_per_second"] = flops / sec
        out[f"train_{name}_mfu"] = flops / sec / H100_BF16_PEAK if cuda else None
    out["ratio_train_nashlab_vs_plain"] = out["train_plain_seconds"] / out["train_nashlab_seconds"]
    if "train_nashlab_compiled_seconds" in out:
        out["ratio_train_compiled_vs_plain"] = out["train_plain_seconds"] / out["train_nashlab_compiled_seconds"]
    return out


SIZES = {
    "cuda": dict(vocab=32000, hidden=1024, layers=24, heads=16, inter=2816, batch=64, prompt=128, new=256,
                 dtype=torch.bfloat16, repeats=3,
                 t_hidden=2048, t_layers=24, t_heads=16, t_inter=5504, t_batch=8, t_seq=1024, t_response=896),
    "cpu": dict(vocab=1000, hidden=256, layers=4, heads=4, inter=704, batch=8, prompt=32, new=32,
                dtype=torch.float32, repeats=2,
                t_hidden=256, t_layers=4, t_heads=4, t_inter=704, t_batch=4, t_seq=128, t_response=96),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda if visible)")
    ap.add_argument("--compile", action="store_true", help="also time the torch.compile'd training step on CPU "
                    "(always on CUDA)")
    args = ap.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    size = SIZES["cuda" if device.type == "cuda" else "cpu"]
    res = {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
           "threads": torch.get_num_threads(),
           "size": {k: (str(v) if isinstance(v, torch.dtype) else v) for k, v in size.items()}}
    res.update(bench_generation(device, size))
    res.update(bench_train_step(device, size, compile_model=args.compile))
    print(f"device: {res['device']}  (problem: {'issue-sized' if device.type == 'cuda' else 'CPU-scaled'})")
    print(f"generation, batch {size['batch']}, prompt {size['prompt']}, {size['new']} new tokens (tokens/s):")
    for k in ("plain_generate", "static_cache_generate", "fast_path", "fast_path_shared_prompt"):
        print(f"  {k:26s} {res[k]:12.1f}")
    print(f"  ratio fast/plain            {res['ratio_fast_vs_plain']:.2f}x")
    print(f"  ratio fast/static-cache     {res['ratio_fast_vs_static']:.2f}x")
    print(f"training step ({res['train_params'] / 1e6:.1f}M params, batch {size['t_batch']} × {size['t_seq']} tokens, "
          f"{size['t_response']} of them response, with the reference forward):")
    for name in ("plain", "nashlab", "nashlab_compiled"):
        if f"train_{name}_seconds" not in res:
            continue
        mfu = res[f"train_{name}_mfu"]
        mfu = f"MFU {100 * mfu:5.1f}%" if mfu is not None else "MFU not measured (no CUDA)"
        err = f"  [{res[f'train_{name}_error']}]" if f"train_{name}_error" in res else ""
        print(f"  {name:18s} {res[f'train_{name}_seconds'] * 1e3:9.1f} ms  "
              f"{res[f'train_{name}_flops_per_second'] / 1e9:10.1f} GFLOP/s  {mfu}{err}")
    print(f"  ratio nashlab/plain         {res['ratio_train_nashlab_vs_plain']:.2f}x (step time)")
    if "ratio_train_compiled_vs_plain" in res:
        print(f"  ratio compiled/plain        {res['ratio_train_compiled_vs_plain']:.2f}x (step time)")
    if device.type != "cuda":
        print("  GPU figures (generation on the issue's problem, MFU on an H100): not measured (no CUDA)")
    if args.json:
        print(json.dumps(res, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
