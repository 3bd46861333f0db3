"""Generation: the hand-written decoding loop against `generate` (greedy), its sampling law against the softmax,
nucleus filtering against a naive implementation, the mixture sampler, seeding."""

import numpy as np
import pytest
import torch

from nashlab.llm_bridge.generation import sample_mixture, sample_responses, top_p_filter
from nashlab.llm_bridge.policy import SequencePolicy
from nashlab.llm_bridge.tokenizer import tiny_causal_lm, word_tokenizer

WORDS = ["rock", "paper", "scissors", "play", "a", "b", "c"]


def _policy(seed=0, family="llama"):
    tok = word_tokenizer(WORDS)
    return SequencePolicy(tiny_causal_lm(len(tok), hidden=32, seed=seed, family=family), tok)


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_fast_loop_greedy_equals_generate(family):
    pol = _policy(1, family)
    prompts = [pol.encode_prompt("play a"), pol.encode_prompt("b"), pol.encode_prompt("play rock paper c")]
    plain = sample_responses(pol, prompts, 2, max_new_tokens=5, temperature=0, path="plain")
    fast = sample_responses(pol, prompts, 2, max_new_tokens=5, temperature=0, path="fast")
    assert plain == fast
    shared = sample_responses(pol, prompts[:1], 3, max_new_tokens=5, temperature=0, path="fast")  # one prompt:
    assert shared[0] == [plain[0][0]] * 3  # prefilled once, cache shared


def test_first_token_frequencies_follow_the_softmax():
    pol = _policy(2)
    p_ids = pol.encode_prompt("play")
    probs = torch.softmax(pol.model(input_ids=torch.tensor([p_ids])).logits[0, -1].double(), -1).detach().numpy()
    N = 4000
    for path in ("plain", "fast"):
        out = sample_responses(pol, [p_ids], N, max_new_tokens=1, seed=7, path=path)[0]
        freq = np.bincount([r[0] for r in out], minlength=len(probs)) / N
        assert (np.abs(freq - probs) <= 4.5 * np.sqrt(probs * (1 - probs) / N) + 1e-12).all(), (freq, probs)


def test_top_p_keeps_the_smallest_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.05, 0.3, 0.15], [0.25, 0.25, 0.25, 0.25]]))
    out = top_p_filter(logits, 0.75)
    kept = torch.isfinite(out)
    # row 0: 0.5 + 0.3 = 0.8 ≥ 0.75 → {0, 2}; row 1: 3 tokens reach 0.75
    assert kept[0].tolist() == [True, False, True, False]
    assert int(kept[1].sum()) == 3
    assert torch.equal(top_p_filter(logits, 1.0), logits)


def test_mixture_sampler_follows_the_geometric_mixture():
    pol, ref = _policy(3), _policy(4)
    p_ids = pol.encode_prompt("play")
    z = pol.model(input_ids=torch.tensor([p_ids])).logits[0, -1].double()
    zr = ref.model(input_ids=torch.tensor([p_ids])).logits[0, -1].double()
    a = 0.3
    probs = torch.softmax((1 - a) * z + a * zr, -1).detach().numpy()
    N = 4000
    out = sample_mixture(pol, [p_ids], N, pol.model, ref.model, a, max_new_tokens=2, seed=1)[0]
    freq = np.bincount([r[0] for r in out], minlength=len(probs)) / N
    assert (np.abs(freq - probs) <= 4.5 * np.sqrt(probs * (1 - probs) / N) + 1e-12).all(), (freq, probs)


def test_seeded_and_leaves_global_rng_alone():
    pol = _policy(5)
    p = [pol.encode_prompt("play")]
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    a = sample_responses(pol, p, 8, max_new_tokens=4, seed=11)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert a == sample_responses(pol, p, 8, max_new_tokens=4, seed=11)
    assert a != sample_responses(pol, p, 8, max_new_tokens=4, seed=12)
    for r in a[0]:  # cut after the first EOS
        assert pol.eos_token_id not in r[:-1]


@pytest.mark.parametrize("bad", [dict(num_samples=0), dict(temperature=-1.0), dict(top_p=0.0), dict(path="vllm2")])
def test_bad_sampling_arguments(bad):
    pol = _policy()
    kw = dict(num_samples=2)
    kw.update(bad)
    with pytest.raises(ValueError):
        sample_responses(pol, [pol.encode_prompt("play")], **kw)


@pytest.mark.gpu
def test_fast_path_on_cuda_equals_generate_greedy():
    pol = _policy(6)
    pol.model.to("cuda")
    prompts = [pol.encode_prompt("play a"), pol.encode_prompt("b c")]
    plain = sample_responses(pol, prompts, 2, max_new_tokens=6, temperature=0, path="plain")
    fast = sample_responses(pol, prompts, 2, max_new_tokens=6, temperature=0, path="fast")
    assert plain == fast


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_plain_path_samples_the_fast_paths_draws_and_leaves_global_rng_alone(family):
    """The plain path (``model.generate``) samples each row from the same per-row generator as the fast path (a
    logits processor draws the token), so the responses of both paths are equal for the same seeds; the global RNG
    is never read or seeded (its state is unchanged, and seeding it differently changes nothing)."""
    pol = _policy(6, family)
    prompts = [pol.encode_prompt("play a"), pol.encode_prompt("b")]
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    plain = sample_responses(pol, prompts, 8, max_new_tokens=4, seed=[21, 40], path="plain")
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.manual_seed(999)
    assert plain == sample_responses(pol, prompts, 8, max_new_tokens=4, seed=[21, 40], path="plain")
    assert plain == sample_responses(pol, prompts, 8, max_new_tokens=4, seed=[21, 40], path="fast")
    assert plain != sample_responses(pol, prompts, 8, max_new_tokens=4, seed=[22, 40], path="plain")
    assert len({tuple(r) for r in plain[0]}) > 1  # sampled, not greedy
