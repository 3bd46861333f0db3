"""scripts/bench_llm.py runs end to end on a micro problem (it is meant to be run once on a lent GPU, so it must not
rot unnoticed): every figure present and finite, ratios the quotients of the timings, FLOP counts by hand."""

import importlib.util
import math
import os

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICRO = dict(vocab=64, hidden=32, layers=2, heads=2, inter=64, batch=2, prompt=4, new=3, dtype=torch.float32,
             repeats=1, t_hidden=32, t_layers=2, t_heads=2, t_inter=64, t_batch=2, t_seq=12, t_response=5)


def _bench():
    spec = importlib.util.spec_from_file_location("bench_llm", os.path.join(ROOT, "scripts", "bench_llm.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generation_figures_and_ratios():
    out = _bench().bench_generation(torch.device("cpu"), MICRO)
    for k in ("plain_generate", "static_cache_generate", "fast_path", "fast_path_shared_prompt"):
        assert math.isfinite(out[k]) and out[k] > 0, (k, out.get("static_cache_error"))
    assert out["ratio_fast_vs_plain"] == out["fast_path"] / out["plain_generate"]
    assert out["ratio_fast_vs_static"] == out["fast_path"] / out["static_cache_generate"]


def test_training_step_figures_and_flop_count():
    out = _bench().bench_train_step(torch.device("cpu"), MICRO)
    h, L, i, V, B, T, R = 32, 2, 64, 64, 2, 12, 5
    body = L * (4 * h * h + 3 * h * i)  # q, k, v, o and the gated MLP (norm weights are 1-d, not counted)
    head = V * h
    attn = 12 * L * h * T * T * B
    assert out["train_params"] == body + head
    assert out["train_plain_flops"] == 8 * (body + head) * B * T + attn * 4 / 3
    assert out["train_useful_flops"] == 8 * body * B * T + 8 * head * B * (R + 1) + attn * 4 / 3
    for name in ("plain", "nashlab"):
        assert math.isfinite(out[f"train_{name}_seconds"]) and out[f"train_{name}_seconds"] > 0
        assert f"train_{name}_error" not in out
        assert out[f"train_{name}_mfu"] is None  # no peak on CPU
    assert "train_nashlab_compiled_seconds" not in out  # CPU compiles only on request
    assert out["ratio_train_nashlab_vs_plain"] == out["train_plain_seconds"] / out["train_nashlab_seconds"]


MICRO_COMPARE = {"micro": dict(hidden=32, layers=2, heads=2, prompts=4, samples=4, new=3)}


def test_compare_trl_runs_both_loops_on_a_micro_size(capsys):
    """--compare-trl at a micro size: the nashlab half always runs; TRL's runs where the bench extra is installed,
    and otherwise the result says why (the table prints the reason)."""
    bench = _bench()
    res = bench.compare_trl(sizes=MICRO_COMPARE, rounds=2, iterations=1)
    r = res["sizes"]["micro"]
    n = r["nashlab"]
    assert len(n["all_seconds_per_iteration"]) == 2
    for k in ("seconds_per_iteration", "generated_tokens_per_second", "pairs_per_second", "tokens_per_iteration"):
        assert math.isfinite(n[k]) and n[k] > 0, k
    assert n["pairs_per_second"] == pytest.approx(4 * 4 * 3 / 2 / n["seconds_per_iteration"])  # C·K(K−1)/2 pairs
    assert set(n["phases"]) == {"generation", "scoring", "judging", "optimisation"}
    missing = bench.trl_available()
    assert res["trl_missing"] == missing
    if missing is None:
        t = r["trl"]
        assert t["pairs_per_second"] == pytest.approx(4 * 4 / 2 / t["seconds_per_iteration"])  # one pair per 2
        assert r["ratio"] == n["seconds_per_iteration"] / t["seconds_per_iteration"]
        assert len(r["ratio_per_round"]) == 2
    else:
        assert "trl" not in r and "ratio" not in r and "bench" in missing
    bench.print_compare(res)
    out = capsys.readouterr().out
    assert "micro: hidden 32" in out and "nashlab" in out
    assert ("ratio nashlab/TRL" in out) == (missing is None)
    assert ("TRL part skipped" in out) == (missing is not None)


def test_compare_trl_without_trl_still_runs_nashlab():
    res = _bench().compare_trl(sizes=MICRO_COMPARE, rounds=1, iterations=1, trl=False)
    assert res["trl_missing"] and "trl" not in res["sizes"]["micro"]
    assert res["sizes"]["micro"]["nashlab"]["seconds_per_iteration"] > 0
