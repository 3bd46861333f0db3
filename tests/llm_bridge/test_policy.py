"""Sequence log-probs against an unpadded per-token loop, for three model families and both paddings."""

import pytest
import torch

from nashlab.llm_bridge.policy import SequencePolicy, collate, sequence_logprobs, token_logprobs
from nashlab.llm_bridge.tokenizer import tiny_causal_lm, word_tokenizer

WORDS = ["rock", "paper", "scissors", "Rock", "play", "game", "a", "b", "c", "d"]


def naive_logprob(model, prompt, response, dtype=torch.float64):
    """Σ_k log softmax(model(prompt + response[:k]).logits[-1])[response[k]], one unpadded forward per token."""
    total = 0.0
    for k in range(len(response)):
        ids = torch.tensor([list(prompt) + list(response[:k])])
        logits = model(input_ids=ids).logits[0, -1].to(dtype)
        total += torch.log_softmax(logits, -1)[response[k]].item()
    return total


def _data():
    g = torch.Generator().manual_seed(0)
    prompts = [[1] + torch.randint(4, 14, (n,), generator=g).tolist() for n in (1, 4, 7)]
    responses = [torch.randint(4, 14, (n,), generator=g).tolist() + [2] for n in (3, 0, 5)]
    return prompts, responses


@pytest.mark.parametrize("family", ["llama", "qwen2", "gpt2"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_matches_naive_loop(family, side):
    model = tiny_causal_lm(14, family=family, hidden=32, seed=1)
    prompts, responses = _data()
    batch = collate(prompts, responses, pad_token_id=0, padding_side=side)
    with torch.no_grad():
        got = sequence_logprobs(model, batch, chunk_size=2)  # a small chunk exercises the chunk loop
        norm = sequence_logprobs(model, batch, normalize=True)
    want = torch.tensor([naive_logprob(model, p, r) for p, r in zip(prompts, responses)], dtype=torch.float64)
    torch.testing.assert_close(got.double(), want, atol=2e-5, rtol=1e-5)
    lengths = torch.tensor([len(r) for r in responses], dtype=torch.float64)
    torch.testing.assert_close(norm.double(), want / lengths, atol=2e-5, rtol=1e-5)


def test_prompt_and_padding_positions_are_zero_and_response_mask_is_exact():
    prompts, responses = _data()
    batch = collate(prompts, responses, pad_token_id=0, padding_side="left")
    assert batch.response_lengths.tolist() == [len(r) for r in responses]
    model = tiny_causal_lm(14, hidden=32)
    with torch.no_grad():
        lp = token_logprobs(model, batch)
    assert (lp[~batch.response_mask] == 0).all()
    assert (lp[batch.response_mask] < 0).all()


def test_bf16_logsoftmax_in_float32():
    """A bf16 model: our float32 log-softmax of its bf16 logits equals the float64 naive loop on the same logits."""
    model = tiny_causal_lm(14, hidden=32, seed=2).to(torch.bfloat16)
    prompts, responses = _data()
    batch = collate(prompts, responses, pad_token_id=0, padding_side="right")
    with torch.no_grad():
        got = sequence_logprobs(model, batch)
    assert got.dtype == torch.float32
    want = torch.tensor([naive_logprob(model, p, r) for p, r in zip(prompts, responses)], dtype=torch.float64)
    # bf16 forward with and without padding differs by bf16 rounding of activations (~1e-2 relative per token).
    torch.testing.assert_close(got.double(), want, atol=0.1, rtol=0.02)


def test_gradient_reaches_parameters():
    model = tiny_causal_lm(14, hidden=32)
    prompts, responses = _data()
    lp = sequence_logprobs(model, collate(prompts, responses, 0)).sum()
    lp.backward()
    assert model.lm_head.weight.grad.abs().sum() > 0


def test_policy_encode_and_logprobs():
    tok = word_tokenizer(WORDS)
    policy = SequencePolicy(tiny_causal_lm(len(tok), hidden=32), tok)
    p = policy.encode_prompt("play game")
    assert p == [tok.bos_token_id, tok.convert_tokens_to_ids("play"), tok.convert_tokens_to_ids("game")]
    r = tok("rock")["input_ids"] + [tok.eos_token_id]
    with torch.no_grad():
        lp = policy.logprobs([p], [r])
    assert lp.item() == pytest.approx(naive_logprob(policy.model, p, r), abs=1e-5)
    assert policy.decode(r) == "rock"


@pytest.mark.parametrize("bad", [dict(padding_side="middle"), dict(response_ids=[[]]), dict(prompt_ids=[[]])])
def test_collate_refuses_bad_input(bad):
    kw = dict(prompt_ids=[[1, 2]], response_ids=[[3]], pad_token_id=0, padding_side="left")
    kw.update(bad)
    with pytest.raises(ValueError):
        collate(**kw)


@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_shared_prompt_logprobs_equal_padded_batch_values_and_gradients(family):
    from nashlab.llm_bridge.policy import shared_prompt_logprobs

    model = tiny_causal_lm(14, family=family, hidden=32, seed=3)
    prompt = [1, 5, 6, 7]
    responses = [[4, 5, 2], [8], [9, 10, 11, 12, 2]]
    weights = torch.tensor([0.3, -1.0, 0.7])
    got = shared_prompt_logprobs(model, prompt, responses)
    (got * weights).sum().backward()
    g_got = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    want = sequence_logprobs(model, collate([prompt] * 3, responses, 0))
    (want * weights).sum().backward()
    torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-5)
    for n, p in model.named_parameters():
        torch.testing.assert_close(g_got[n], p.grad, atol=1e-5, rtol=1e-4)
    norm = shared_prompt_logprobs(model, prompt, responses, normalize=True)
    torch.testing.assert_close(norm, want.detach() / torch.tensor([3.0, 1.0, 5.0]), atol=2e-5, rtol=1e-5)
