"""The language game: parser, augmented matrix, exact action distribution (against an independent softmax and
against sampled frequencies, including multi-token spellings with word boundaries), metrics."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from nashlab.games import duality_gap, make_matrix, reg_duality_gap
from nashlab.llm_bridge.language_game import (
    LanguageGame, augment, boundary_token_mask, cyclic_language_game, first_word, sampled_action_distribution,
    wilson_interval,
)
from nashlab.llm_bridge.policy import SequencePolicy
from nashlab.llm_bridge.tokenizer import tiny_causal_lm, word_tokenizer

RPS = [["rock", "Rock"], ["paper"], ["scissors"]]


@pytest.mark.parametrize("text,action", [
    ("rock", 0), ("  Rock! beats you", 0), ("ROCK", 0), ("paper.", 1), ("scissors-cut", 2), ("rocks", 3),
    ("I pick rock", 3), ("", 3), ("...rock", 3), ("<unk> rock", 3), ("rock5", 0),
])
def test_parser_reads_the_first_word(text, action):
    game = LanguageGame(["play"], RPS, make_matrix("cyclic", n=3))
    assert game.parse(text) == action


def test_augmented_matrix_has_a_dominated_other():
    P = make_matrix("egpo", n=4, seed=1)
    Pa = augment(P)
    np.testing.assert_allclose(Pa + Pa.T, 1.0)
    assert (Pa[:4, 4] == 1).all() and (Pa[4, :4] == 0).all() and Pa[4, 4] == 0.5
    # any mass on 'other' is exploitable: DG_0 of the pure 'other' policy is 1
    assert duality_gap(Pa, np.eye(5)[4]) == pytest.approx(1.0)


def test_bad_games_are_refused():
    with pytest.raises(ValueError, match="two actions"):
        LanguageGame(["x"], [["rock"], ["Rock"]], make_matrix("cyclic", n=2))
    with pytest.raises(ValueError, match="single ASCII words"):
        LanguageGame(["x"], [["rock n"], ["paper"]], make_matrix("cyclic", n=2))
    with pytest.raises(ValueError, match="actions"):
        LanguageGame(["x"], RPS, make_matrix("cyclic", n=4))


def test_exact_distribution_is_the_first_token_softmax_for_a_word_tokenizer():
    game, words = cyclic_language_game(3, 2, beta=0.1)
    tok = word_tokenizer(words)
    policy = SequencePolicy(tiny_causal_lm(len(tok), hidden=32, seed=3), tok)
    pi = game.exact_action_distribution(policy)
    for c, prompt in enumerate(game.prompts):
        ids = torch.tensor([policy.encode_prompt(prompt)])
        p = torch.softmax(policy.model(input_ids=ids).logits[0, -1].double(), -1)
        want = [float(sum(p.detach()[tok.convert_tokens_to_ids(s)] for s in spellings)) for spellings in game.actions]
        np.testing.assert_allclose(pi[c, :3].numpy(), want, atol=1e-6)
        assert pi[c, 3].item() == pytest.approx(1 - sum(want), abs=1e-6)


class BigramLM(torch.nn.Module):
    """``logits[b, t] = table[input_ids[b, t]]``: a causal LM whose next-token law depends on the last token only."""

    def __init__(self, V, seed=0, scale=2.5):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.table = torch.nn.Parameter(scale * torch.randn(V, V, generator=g))

    def forward(self, input_ids, attention_mask=None, position_ids=None, use_cache=False, logits_to_keep=0, **kw):
        logits = self.table[input_ids]
        return SimpleNamespace(logits=logits[:, -logits_to_keep:] if logits_to_keep else logits)

    def get_output_embeddings(self):
        return SimpleNamespace(weight=self.table)


def _bpe_tokenizer():
    """A sentencepiece-style (Metaspace) BPE of ~60 tokens trained in code, so moves span several tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE(unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Metaspace()
    tk.decoder = decoders.Metaspace()
    corpus = ["rock paper scissors play the game I choose you rocky papers ok"] * 20
    tk.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=60, special_tokens=["<pad>", "<bos>", "<eos>",
                                                                                        "<unk>"]))
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>",
                                   unk_token="<unk>")


def test_exact_distribution_matches_sampled_frequencies_with_multi_token_moves():
    """Token paths × boundary mass against 6000 parsed samples per context (Wilson intervals at z = 4.5: a
    family-wise error below 1e-4 over the 8 cells)."""
    tok = _bpe_tokenizer()
    game = LanguageGame(["play the game", "I choose"], RPS, make_matrix("cyclic", n=3), beta=0.1)
    paths = game.token_paths(tok)
    assert any(len(p) > 1 for _, p in paths), paths  # some move needs several tokens
    V = len(tok)
    model = BigramLM(V, seed=5)
    with torch.no_grad():  # make the moves likely enough to be measured: boost the canonical paths, then EOS
        for w in ("rock", "paper", "scissors"):
            p = tok(w, add_special_tokens=False)["input_ids"]
            model.table[:, p[0]] += 3.0
            for a, b in zip(p, p[1:]):
                model.table[a, b] += 5.0
            model.table[p[-1], tok.eos_token_id] += 4.0
    policy = SequencePolicy(model, tok)
    pi = game.exact_action_distribution(policy).numpy()
    assert pi[:, :3].sum(-1).min() > 0.02  # non-trivial mass on moves
    freq, lo, hi = sampled_action_distribution(policy, game, 6000, max_new_tokens=6, seed=1, z=4.5,
                                                path="fast")
    assert ((pi >= lo) & (pi <= hi)).all(), (pi, freq)


def test_boundary_mask_of_a_word_tokenizer_is_everything():
    tok = word_tokenizer(["rock", "paper"])
    assert boundary_token_mask(tok).all()


def test_wilson_interval_contains_the_proportion():
    lo, hi = wilson_interval(np.array([0, 5, 10]), 10)
    assert lo[0] == pytest.approx(0, abs=1e-12) and hi[2] == pytest.approx(1) and lo[1] < 0.5 < hi[1]


def test_metrics_use_the_games_formulas():
    game, _ = cyclic_language_game(3, 2, beta=0.1)
    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(4), size=2)
    ref = rng.dirichlet(np.ones(4), size=2)
    m = game.metrics(pi, ref)
    Pa = game.P_aug
    assert m["duality_gap"] == pytest.approx(np.mean([duality_gap(Pa[c], pi[c]) for c in range(2)]))
    assert m["reg_duality_gap"] == pytest.approx(np.mean([reg_duality_gap(Pa[c], pi[c], ref[c], 0.1) for c in range(2)]))
    assert m["other_mass"] == pytest.approx(pi[:, 3].mean())
    nash = np.tile([1 / 3, 1 / 3, 1 / 3, 0.0], (2, 1))
    assert game.metrics(nash, ref)["duality_gap"] == pytest.approx(0.0, abs=1e-12)


def test_exact_distribution_with_kv_cache_equals_path_by_path_sums():
    """A tiny Llama with the BPE tokenizer: the trie walk (prompt KV cache copied to right-padded prefixes) equals
    Σ_paths exp(log π(path|x) + log π(boundary|x, path)), each path scored by a separate uncached forward."""
    from nashlab.llm_bridge.policy import collate, sequence_logprobs

    tok = _bpe_tokenizer()
    game = LanguageGame(["play the game", "I choose"], RPS, make_matrix("cyclic", n=3))
    policy = SequencePolicy(tiny_causal_lm(len(tok), hidden=32, seed=4), tok)
    got = game.exact_action_distribution(policy, prune=1e-30, batch_size=7).numpy()
    assert game.last_pruned_mass.max() < 1e-20
    boundary = boundary_token_mask(tok)
    want = np.zeros((2, 4))
    with torch.no_grad():
        for c, prompt in enumerate(game.prompts):
            p = policy.encode_prompt(prompt)
            for a, path in game.token_paths(tok):
                lp = sequence_logprobs(policy.model, collate([p], [list(path)], 0)).item()
                nxt = torch.log_softmax(policy.model(input_ids=torch.tensor([p + list(path)])).logits[0, -1], -1)
                want[c, a] += np.exp(lp + torch.logsumexp(nxt[boundary], -1).item())
    want[:, 3] = 1 - want[:, :3].sum(-1)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_token_surfaces_cache_does_not_outlive_its_tokenizer():
    """Regression: the cache was keyed by ``id(tokenizer)``; once a tokenizer was collected, a new one could get its
    id and with it the old surfaces, so word boundaries (and the exact action distribution) came from the wrong
    vocabulary. The test suite hit it as an order-dependent failure of the exact-feedback test."""
    import gc

    from nashlab.llm_bridge import language_game as lg
    from nashlab.llm_bridge.tokenizer import word_tokenizer

    a = word_tokenizer(["rock", "paper", "scissors", "hello"])
    first = lg.token_surfaces(a)
    assert lg.token_surfaces(a) is first  # cached while alive
    n = len(lg._SURFACE_CACHE)
    del a
    gc.collect()
    # a's entry left with it (tokenizers of earlier tests may be collected by the same gc: at most n − 1 remain)
    assert len(lg._SURFACE_CACHE) <= n - 1
    b = word_tokenizer(["hello", ".", "scissors", "rock", "paper", "!"])
    ref_ids = b("a", add_special_tokens=False)["input_ids"]
    ref = b.decode(ref_ids)
    want = [t[len(ref):] if t.startswith(ref) else t
            for t in b.batch_decode([ref_ids + [i] for i in range(len(b))], skip_special_tokens=False)]
    assert lg.token_surfaces(b) == want
