"""The online loop batched across prompts (issue 15): sampled rows do not depend on their batch, the decoding's own
log-probs are the scoring forward's, length buckets are the cheapest split, batched scoring equals one sequence at
a time, and every metrics row reports its phases' wall times (evaluation on its own cadence)."""

import csv
import itertools
import json
import math
import random

import numpy as np
import pytest
import torch

from helpers import tiny_run
from nashlab.llm_bridge.generation import decode_loop, sample_responses
from nashlab.llm_bridge.language_game import cyclic_language_game
from nashlab.llm_bridge.policy import SequencePolicy, collate, sequence_logprobs
from nashlab.llm_bridge.tokenizer import tiny_causal_lm, word_tokenizer
from nashlab.llm_bridge.trainer import PHASES_TIMED, PhaseClock, length_buckets, share_prompt_wins, _Rollout


def _policy():
    game, words = cyclic_language_game(3, 4)
    tok = word_tokenizer(words)
    return SequencePolicy(tiny_causal_lm(len(tok), hidden=32, seed=3), tok), game


def test_a_sampled_row_depends_only_on_its_prompt_seed_and_index():
    pol, game = _policy()
    prompts = [pol.encode_prompt(p) for p in game.prompts[:3]] + [pol.encode_prompt("ctx1 play play")]  # lengths 3, 4
    together = sample_responses(pol, prompts, 5, max_new_tokens=4, seed=[11, 12, 13, 14])
    alone = [sample_responses(pol, [p], 5, max_new_tokens=4, seed=[s])[0] for p, s in zip(prompts, [11, 12, 13, 14])]
    assert together == alone
    assert together[0] != sample_responses(pol, prompts[:1], 5, max_new_tokens=4, seed=[99])[0]


def test_decoding_log_probs_equal_the_scoring_forward():
    pol, game = _policy()
    prompts = [pol.encode_prompt(p) for p in game.prompts] + [pol.encode_prompt("ctx2 play play")]
    rows, lp = decode_loop(pol, pol.model, prompts, 5, 1.0, 1.0, torch.device("cpu"), repeats=3,
                           seeds=list(range(15)), return_logprobs=True)
    flat_prompts = [p for p in prompts for _ in range(3)]
    want = torch.stack([sequence_logprobs(pol.model, collate([p], [r], 0)) for p, r in zip(flat_prompts, rows)])
    torch.testing.assert_close(lp, want.squeeze(-1), atol=1e-5, rtol=1e-5)
    assert any(r[-1] == pol.eos_token_id and len(r) < 5 for r in rows)  # EOS-cut rows are covered


def _brute_force(lengths, overhead, budget):
    n, best = len(lengths), math.inf
    for k in range(n):
        for cuts in itertools.combinations(range(1, n), k):
            bounds = list(zip((0,) + cuts, cuts + (n,)))
            costs = [(b - a) * lengths[b - 1] for a, b in bounds]
            if budget is not None and any(c > budget and b - a > 1 for c, (a, b) in zip(costs, bounds)):
                continue
            best = min(best, sum(costs) + overhead * len(bounds))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_length_buckets_are_the_cheapest_contiguous_split(seed):
    rng = random.Random(seed)
    lengths = sorted(rng.randint(2, 40) for _ in range(rng.randint(1, 9)))
    overhead, budget = rng.choice([0, 10, 60, 1000]), rng.choice([None, 80])
    chunks = length_buckets(lengths, overhead=overhead, budget=budget)
    assert chunks[0][0] == 0 and chunks[-1][1] == len(lengths) and all(a < b for a, b in chunks)
    assert all(b1 == a2 for (_, b1), (a2, _) in zip(chunks, chunks[1:]))
    work = sum(overhead + (b - a) * lengths[b - 1] for a, b in chunks)
    assert work == _brute_force(lengths, overhead, budget)


def test_length_buckets_refuse_unsorted_lengths():
    with pytest.raises(ValueError, match="sorted"):
        length_buckets([3, 2])


def test_share_prompt_rule_by_hand():
    # 8 prompts of 3 tokens, K = 2, 3-token responses: shared 8·3 + 16·3 = 72 > padded 16·6 / 2 = 48
    assert not share_prompt_wins([3] * 8, 2, 3)
    # 2 chat prompts of 60 tokens, K = 8, 8-token responses: 120 + 128 = 248 ≤ 16·68 / 2 = 544
    assert share_prompt_wins([60, 60], 8, 8)


@pytest.mark.parametrize("share", [False, True])
def test_batched_scoring_equals_one_sequence_at_a_time(share):
    tr = tiny_run("inpo", share_prompt=share)
    rng = random.Random(0)
    rollouts = [_Rollout(c, [[rng.randint(4, 12) for _ in range(rng.randint(1, 6))] + [2] for _ in range(3)], [])
                for c in range(4)]
    got = tr._logprobs(tr.unwrapped, rollouts, grad=True)
    want = torch.stack([sequence_logprobs(tr.unwrapped, collate([tr.prompt_ids[r.context]], [y], 0))[0]
                        for r in rollouts for y in r.responses])
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    g1 = torch.autograd.grad(got.sum(), list(tr.unwrapped.parameters()))
    g2 = torch.autograd.grad(want.sum(), list(tr.unwrapped.parameters()))
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_pi_t_anchor_from_generation_only_where_valid():
    assert tiny_run("inpo").anchor_t_from_generation
    assert not tiny_run("inpo", extra_responses=("rock",)).anchor_t_from_generation
    assert not tiny_run("inpo", generation_path="plain").anchor_t_from_generation


def test_pi_t_anchor_from_generation_equals_scoring():
    tr = tiny_run("inpo")
    samples, lp = tr._sample(tr.unwrapped, [0, 1, 2, 3], 6, phase=0, with_logprobs=True)
    rollouts = [_Rollout(c, s, []) for c, s in zip(range(4), samples)]
    torch.testing.assert_close(lp, tr._logprobs(tr.unwrapped, rollouts), atol=1e-5, rtol=1e-5)


def test_phase_clock_is_exclusive_and_evaluation_swallows_its_inner_phases():
    clock, now = PhaseClock(), iter(range(100))
    clock._now = lambda: float(next(now))
    with clock("judging"):  # t = 0
        with clock("generation"):  # 1 .. 2
            pass
    # judging: (1 - 0) + (3 - 2) = 2; generation: 1
    assert clock.seconds["judging"] == 2 and clock.seconds["generation"] == 1
    with clock("evaluation"):  # 4
        with clock("generation"):  # not entered: evaluation time
            pass
    assert clock.seconds["evaluation"] == 1 and clock.seconds["generation"] == 1


def test_eval_every_and_phase_times_in_metrics_csv(tmp_path):
    tr = tiny_run("egpo", iterations=5, eval_every=2, checkpoint_every=0, out_dir=str(tmp_path))
    h = tr.train()
    evaluated = [np.isfinite(m["duality_gap"]) for m in h]
    assert evaluated == [True, False, True, False, True, True]  # 0, every 2nd, and the last
    assert [np.isfinite(m["kl_to_ref"]) for m in h] == evaluated
    for m in h[1:]:
        parts = [m[f"seconds_{k}"] for k in PHASES_TIMED]
        assert all(p >= 0 for p in parts) and sum(parts) <= m["seconds"] + 1e-9
        assert m["seconds_per_iteration"] == pytest.approx(m["seconds"] - m["seconds_evaluation"])
        assert m["seconds_generation"] > 0 and m["seconds_optimisation"] > 0
        assert (m["seconds_evaluation"] > 0) == np.isfinite(m["duality_gap"])
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and {f"seconds_{k}" for k in PHASES_TIMED} | {"seconds_per_iteration"} <= set(rows[0])
    assert rows[1]["duality_gap"] == "nan" and rows[2]["duality_gap"] != "nan"


def test_eval_every_defaults_to_the_checkpoint_cadence_and_exact_feedback_evaluates_always():
    h = tiny_run("inpo", iterations=3, checkpoint_every=2).train()
    assert [np.isfinite(m["duality_gap"]) for m in h] == [True, False, True, True]
    tr = tiny_run("inpo", iterations=2, checkpoint_every=5, feedback="exact")
    h = tr.train()
    from nashlab.games import duality_gap

    for m in h:  # every row evaluated, on the model of that iteration (DG_0 of its own recorded π)
        assert m["duality_gap"] == pytest.approx(float(np.mean(duality_gap(tr.game.P_aug, np.asarray(m["pi"])))),
                                                 abs=1e-12)
    assert len({json.dumps(m["pi"]) for m in h}) == 3  # three distinct iterates, each evaluated
