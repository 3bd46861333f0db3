#!/usr/bin/env python
"""Benchmark of nashlab.llm_bridge, side by side in one run: generation tokens/s and the training step's MFU.

    .venv/bin/python scripts/bench_llm.py            # CUDA if visible, else the CPU-sized problem
    .venv/bin/python scripts/bench_llm.py --json     # last stdout line: one JSON object with every figure
    .venv/bin/python scripts/bench_llm.py --compare-trl   # nashlab's online loop against TRL's OnlineDPOTrainer

``--compare-trl`` (TRL from the ``bench`` extra: ``pip install '.[bench]'``) builds one random-init Llama and
nashlab's word tokenizer on the rock-paper-scissors language game and runs, on the same prompts, samples per prompt,
new tokens, AdamW settings (lr, betas, no weight decay, gradient clipping at 1) and judge, both online loops:
nashlab's ``OnlineTrainer`` (INPO, one epoch, all prompts in one optimizer step, no evaluation) and TRL's
``OnlineDPOTrainer`` (gradient checkpointing off, its faster setting), whose reward function applies the same game
(each pair's two completions are judged against each other, reward 1 to the winner). TRL samples 2 completions
per prompt row, so ``K`` samples per prompt are ``K/2`` copies of each prompt. The runs alternate
(nashlab, TRL, TRL, nashlab, ...), each warm (one untimed iteration first), and the table gives median
s/iteration, generated tokens per second of generation time, trained pairs per second (nashlab trains all
``K(K−1)/2`` pairs of a prompt's samples, TRL one pair per two samples) and the ratio nashlab/TRL of s/iteration.
Two sizes: the issue's tiny setting and a larger one (see :data:`COMPARE_SIZES`).

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


#: The two settings of ``--compare-trl``: 8 prompts, 1 thread, float32 on CPU.
COMPARE_SIZES = {
    "tiny": dict(hidden=256, layers=4, heads=4, prompts=8, samples=2, new=3),
    "larger": dict(hidden=512, layers=8, heads=8, prompts=8, samples=8, new=32),
}
COMPARE_LR, COMPARE_BETA = 1e-6, 0.1  # a small step: both loops keep sampling about the same lengths


def _compare_setup(size, seed=0):
    from nashlab.llm_bridge.judges import KnownNashJudge
    from nashlab.llm_bridge.language_game import cyclic_language_game
    from nashlab.llm_bridge.tokenizer import tiny_causal_lm, word_tokenizer

    game, words = cyclic_language_game(3, size["prompts"], beta=0.05)
    tok = word_tokenizer(words)
    model = tiny_causal_lm(len(tok), hidden=size["hidden"], layers=size["layers"], heads=size["heads"],
                           max_positions=64, seed=seed)
    return game, tok, model, KnownNashJudge(game)


def nashlab_online(size, iterations, setup=None):
    """Seconds per iteration (mean over ``iterations`` after one warm-up), generated tokens per second of generation
    time and the per-phase seconds of nashlab's online loop (INPO) on ``size``."""
    import copy

    from nashlab.llm_bridge.policy import SequencePolicy
    from nashlab.llm_bridge.trainer import OnlineTrainer, TrainConfig

    game, tok, model, judge = setup or _compare_setup(size)
    cfg = TrainConfig(solver="inpo", eta=1.0, beta=COMPARE_BETA, iterations=10**6, samples_per_prompt=size["samples"],
                      epochs=1, prompts_per_step=size["prompts"], lr=COMPARE_LR, max_grad_norm=1.0,
                      max_new_tokens=size["new"], bf16="no", checkpoint_every=0, eval_every=0, kl_samples=0, seed=0)
    tr = OnlineTrainer(SequencePolicy(copy.deepcopy(model), tok), judge, game, cfg)
    tr.step()  # warm-up
    rows = [tr.step() for _ in range(iterations)]
    sec = sum(r["seconds_per_iteration"] for r in rows) / iterations
    gen_s = sum(r["seconds_generation"] for r in rows)
    tokens = sum(r["tokens_per_second"] * r["seconds_generation"] for r in rows)
    C, K = size["prompts"], size["samples"]
    return {"seconds_per_iteration": sec, "generated_tokens_per_second": tokens / gen_s,
            "tokens_per_iteration": tokens / iterations,
            "pairs_per_iteration": C * K * (K - 1) / 2, "pairs_per_second": C * K * (K - 1) / 2 / sec,
            "phases": {k: sum(r[f"seconds_{k}"] for r in rows) / iterations
                       for k in ("generation", "scoring", "judging", "optimisation")}}


def trl_available() -> str | None:
    """``None`` if TRL's OnlineDPOTrainer imports, else why not (one line)."""
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # OnlineDPOTrainer lives in trl.experimental
    try:
        from trl.experimental.online_dpo import OnlineDPOConfig, OnlineDPOTrainer  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure means: not comparable here
        return f"TRL's OnlineDPOTrainer is not importable ({type(exc).__name__}: {exc}); pip install '.[bench]'"
    return None


def trl_online(size, iterations, setup=None):
    """The same figures for TRL's ``OnlineDPOTrainer`` (one ``training_step`` = one iteration)."""
    import copy
    import tempfile
    import warnings

    from datasets import Dataset
    from transformers import TrainerCallback
    from trl.experimental.online_dpo import OnlineDPOConfig, OnlineDPOTrainer

    from nashlab.llm_bridge.trainer import derive_seed

    game, tok, model, judge = setup or _compare_setup(size)
    C, K = size["prompts"], size["samples"]
    index = {p: c for c, p in enumerate(game.prompts)}
    bos = tok.bos_token + " "  # nashlab prompts start with BOS; TRL tokenizes without special tokens
    calls = [0]

    def game_reward(prompts, completions, **kw):
        """Pair i is (completions[i], completions[i + B]): the judge's outcome o, reward o and 1 − o."""
        B = len(prompts) // 2
        ctx = [index[p[len(bos):]] for p in prompts[:B]]
        calls[0] += 1
        o = judge.compare(ctx, [game.prompts[c] for c in ctx], completions[:B], completions[B:],
                          seed=derive_seed(0, calls[0]))
        return o.tolist() + (1 - o).tolist()

    times, gen = [], {"seconds": 0.0, "tokens": 0}

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter() - self.t)

    rows = [bos + p for p in game.prompts for _ in range(K // 2)]
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        args = OnlineDPOConfig(output_dir=d, per_device_train_batch_size=len(rows), gradient_accumulation_steps=1,
                               max_steps=iterations + 1, learning_rate=COMPARE_LR, lr_scheduler_type="constant",
                               weight_decay=0.0, max_grad_norm=1.0, beta=[COMPARE_BETA], max_new_tokens=size["new"],
                               temperature=1.0, top_p=1.0, top_k=0, gradient_checkpointing=False, use_cpu=True,
                               bf16=False, report_to="none", save_strategy="no", logging_steps=10**6, seed=0,
                               disable_tqdm=True, dataloader_num_workers=0)
        trainer = OnlineDPOTrainer(model=copy.deepcopy(model), reward_funcs=game_reward, args=args,
                                   train_dataset=Dataset.from_dict({"prompt": rows}), processing_class=tok,
                                   callbacks=[Clock()])
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # its end-of-training dict would interleave with the table
        generate = trainer._generate

        def timed_generate(*a, **kw):
            t = time.perf_counter()
            out = generate(*a, **kw)
            if times:  # after the warm-up step
                gen["seconds"] += time.perf_counter() - t
                gen["tokens"] += int(out[3].sum())  # completion_mask
            return out
        trainer._generate = timed_generate
        trainer.train()
    sec = sum(times[1:]) / len(times[1:])
    return {"seconds_per_iteration": sec, "generated_tokens_per_second": gen["tokens"] / max(gen["seconds"], 1e-9),
            "tokens_per_iteration": gen["tokens"] / iterations,
            "pairs_per_iteration": C * K / 2, "pairs_per_second": C * K / 2 / sec}


def compare_trl(sizes=None, rounds=3, iterations=5, threads=1, trl=True):
    """Both loops on each size, alternating ``rounds`` times; medians and the ratio nashlab/TRL of s/iteration (per
    round too). Without TRL (or ``trl=False``) only nashlab runs, and ``"trl"`` says why."""
    import statistics

    torch.set_num_threads(threads)
    sizes = sizes or COMPARE_SIZES
    missing = trl_available() if trl else "not requested"
    out = {"threads": threads, "rounds": rounds, "iterations": iterations, "trl_missing": missing, "sizes": {}}
    for name, size in sizes.items():
        setup = _compare_setup(size)
        runs = {"nashlab": [], "trl": []}
        for r in range(rounds):
            order = ["nashlab", "trl"] if r % 2 == 0 else ["trl", "nashlab"]
            for who in order:
                if who == "trl" and missing:
                    continue
                fn = nashlab_online if who == "nashlab" else trl_online
                runs[who].append(fn(size, iterations, setup))
        res = {"size": size, "params": sum(p.numel() for p in setup[2].parameters())}
        for who, rs in runs.items():
            if rs:
                res[who] = {k: statistics.median(x[k] for x in rs)
                            for k in ("seconds_per_iteration", "generated_tokens_per_second", "pairs_per_second",
                                      "tokens_per_iteration")}
                res[who]["pairs_per_second"] = rs[0]["pairs_per_iteration"] / res[who]["seconds_per_iteration"]
                res[who]["all_seconds_per_iteration"] = [x["seconds_per_iteration"] for x in rs]
        res["nashlab"]["phases"] = {k: statistics.median(x["phases"][k] for x in runs["nashlab"])
                                    for k in runs["nashlab"][0]["phases"]}
        if runs["trl"]:
            res["ratio"] = res["nashlab"]["seconds_per_iteration"] / res["trl"]["seconds_per_iteration"]
            res["ratio_per_round"] = [a["seconds_per_iteration"] / b["seconds_per_iteration"]
                                      for a, b in zip(runs["nashlab"], runs["trl"])]
        out["sizes"][name] = res
    return out


def print_compare(res) -> None:
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"nashlab online loop (INPO) vs TRL OnlineDPOTrainer, CPU float32, {res['threads']} thread(s), "
          f"{res['rounds']} alternating rounds × {res['iterations']} iterations, load average {load:.1f}")
    if res["trl_missing"]:
        print(f"  TRL part skipped: {res['trl_missing']}")
    for name, r in res["sizes"].items():
        sz = r["size"]
        print(f"{name}: hidden {sz['hidden']}, {sz['layers']} layers ({r['params'] / 1e6:.1f}M params), "
              f"{sz['prompts']} prompts × {sz['samples']} samples, {sz['new']} new tokens")
        print(f"  {'':10s} {'s/iteration':>12s} {'gen tok/s':>10s} {'pairs/s':>9s} {'tokens/it':>10s}")
        for who in ("nashlab", "trl"):
            if who in r:
                x = r[who]
                print(f"  {who:10s} {x['seconds_per_iteration']:12.4f} {x['generated_tokens_per_second']:10.0f} "
                      f"{x['pairs_per_second']:9.1f} {x['tokens_per_iteration']:10.0f}")
        ph = r["nashlab"]["phases"]
        print("  nashlab phases (s): " + ", ".join(f"{k} {v:.4f}" for k, v in ph.items()))
        if "ratio" in r:
            lo, hi = min(r["ratio_per_round"]), max(r["ratio_per_round"])
            print(f"  ratio nashlab/TRL s/iteration: {r['ratio']:.2f}x (per round {lo:.2f}-{hi:.2f})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda if visible)")
    ap.add_argument("--compile", action="store_true", help="also time the torch.compile'd training step on CPU "
                    "(always on CUDA)")
    ap.add_argument("--compare-trl", action="store_true", help="time nashlab's online loop against TRL's "
                    "OnlineDPOTrainer at the two sizes of COMPARE_SIZES (CPU)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of --compare-trl")
    ap.add_argument("--iterations", type=int, default=5, help="timed iterations per run of --compare-trl")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of --compare-trl")
    args = ap.parse_args(argv)
    if args.compare_trl:
        res = compare_trl(rounds=args.rounds, iterations=args.iterations, threads=args.threads)
        print_compare(res)
        if args.json:
            print(json.dumps(res, default=str))
        return 0
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
