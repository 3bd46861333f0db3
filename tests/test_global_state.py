"""No import of a nashlab module, and no library call a user makes, changes process-wide state.

A fresh interpreter records the global torch RNG state (CPU), the number of torch threads and the matplotlib backend,
then imports ``nashlab.paper_figs`` and ``nashlab.llm_bridge``, builds a tiny seeded policy and samples from it on
both decoding paths, and records the same three again. Both records must be equal with ``MPLBACKEND=svg`` in the
environment (the backend a user chose must survive the imports). The comparison can fail: the
script then seeds the global RNG and records a third time, which must differ.
"""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("transformers")  # the LLM stack is an optional extra (third-party, not a nashlab module)

SCRIPT = r"""
import hashlib, json, sys
import matplotlib, torch

def record():
    return {"rng": hashlib.sha256(torch.random.get_rng_state().numpy().tobytes()).hexdigest(),
            "threads": torch.get_num_threads(), "backend": str(matplotlib.get_backend())}

before = record()
import nashlab.paper_figs, nashlab.llm_bridge
from nashlab.llm_bridge.generation import sample_responses
from nashlab.llm_bridge.policy import SequencePolicy
from nashlab.llm_bridge.tokenizer import tiny_causal_lm, word_tokenizer

tok = word_tokenizer(["rock", "paper", "scissors", "play"])
policy = SequencePolicy(tiny_causal_lm(len(tok), hidden=16, layers=1, heads=2, seed=3), tok)
prompt = [policy.encode_prompt("play")]
for path in ("fast", "plain"):
    sample_responses(policy, prompt, 4, max_new_tokens=3, seed=7, path=path)
after = record()
torch.manual_seed(0)  # a real change of the global state, so that the comparison is shown to be able to fail
print(json.dumps({"before": before, "after": after, "spoiled": record()}))
"""


def _run(env_extra):
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(env_extra)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_imports_and_a_tiny_policy_leave_rng_threads_and_backend_alone():
    """Run with ``MPLBACKEND=svg``: a module that forced a backend (``matplotlib.use("Agg")``) would show as a changed
    backend, which it cannot without the variable on a headless machine (the default there is Agg already). One
    interpreter start (torch and transformers imports, a few seconds) is the whole cost of the test."""
    out = _run({"MPLBACKEND": "svg"})
    assert out["after"] == out["before"]
    assert out["after"]["backend"].lower() == "svg"
    assert out["spoiled"]["rng"] != out["before"]["rng"]  # the record sees a seeded global RNG


def test_tiny_causal_lm_keeps_the_weights_of_a_globally_seeded_build_and_the_callers_rng():
    """``tiny_causal_lm(seed=s)`` builds the same weights, bit for bit, as the plain recipe it replaced
    (``torch.manual_seed(s)`` then the ``transformers`` constructor, here run inside ``fork_rng`` by hand), so
    every recorded run keeps its numbers; and the caller's RNG stream continues as if nothing had been built."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from nashlab.llm_bridge.tokenizer import tiny_causal_lm

    cfg = LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                      num_key_value_heads=2, max_position_embeddings=64, vocab_size=11, pad_token_id=0,
                      bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        want = LlamaForCausalLM(cfg).state_dict()
    torch.manual_seed(123)
    stream_without = torch.rand(4)
    torch.manual_seed(123)
    got = tiny_causal_lm(11, hidden=16, layers=1, heads=2, max_positions=64, seed=5).state_dict()
    assert torch.equal(torch.rand(4), stream_without)
    assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
    other = tiny_causal_lm(11, hidden=16, layers=1, heads=2, max_positions=64, seed=6).state_dict()
    assert not all(torch.equal(other[k], want[k]) for k in want)  # the seed matters: the comparison can fail
