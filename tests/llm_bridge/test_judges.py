"""Judges: the known-Nash judge reads P⁺ through the parser; the reward-model judge is Bradley–Terry (or a
symmetrised pairwise classifier) computed independently, and loads from a local folder."""

import numpy as np
import pytest
import torch

from nashlab.games import make_matrix
from nashlab.llm_bridge.judges import Judge, KnownNashJudge, RewardModelJudge
from nashlab.llm_bridge.language_game import LanguageGame
from nashlab.llm_bridge.tokenizer import word_tokenizer


def _game():
    return LanguageGame(["a", "b"], [["rock"], ["paper"], ["scissors"]],
                        np.stack([make_matrix("egpo", n=3, seed=s) for s in (1, 2)]))


def test_known_nash_probabilities_and_outcomes():
    game = _game()
    judge = KnownNashJudge(game)
    assert isinstance(judge, Judge)
    ys = ["rock", "paper!", "I think", "scissors", "hello"]
    yp = ["paper", "paper", "rock", "blah", "hm"]
    ctx = [0, 1, 1, 0, 1]
    p = judge.probabilities(ctx, ["a"] * 5, ys, yp)
    Pa = game.P_aug
    want = [Pa[0, 0, 1], Pa[1, 1, 1], 0.0, 1.0, 0.5]
    np.testing.assert_allclose(p.numpy(), want)
    o1 = judge.compare(ctx * 400, ["a"] * 2000, ys * 400, yp * 400, seed=3)
    o2 = judge.compare(ctx * 400, ["a"] * 2000, ys * 400, yp * 400, seed=3)
    assert torch.equal(o1, o2) and set(o1.unique().tolist()) <= {0.0, 1.0}
    means = o1.reshape(400, 5).mean(0).numpy()
    np.testing.assert_allclose(means, want, atol=4.5 * 0.5 / np.sqrt(400))
    assert judge.queries == 5 + 4000


def _classifier(vocab):
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, num_labels=1, pad_token_id=0)
    return LlamaForSequenceClassification(cfg).eval()


WORDS = ["q", "rock", "paper", "scissors", "yes", "no"]


def test_reward_model_judge_is_bradley_terry_of_unpadded_scores():
    tok = word_tokenizer(WORDS)
    model = _classifier(len(tok))
    judge = RewardModelJudge(model, tok, mode="reward", sample=False)
    prompts, ys, yp = ["q", "q yes"], ["rock paper", "no"], ["scissors", "yes yes no"]

    def r(text):  # one unpadded sequence at a time
        ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
        return model(input_ids=ids).logits[0, 0].double().item()

    want = [1 / (1 + np.exp(-(r(p + " " + a) - r(p + " " + b)))) for p, a, b in zip(prompts, ys, yp)]
    got = judge.compare([0, 0], prompts, ys, yp, seed=0)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    back = judge.probabilities([0, 0], prompts, yp, ys)
    np.testing.assert_allclose((got + back).numpy(), 1.0, atol=1e-12)


def test_pairwise_judge_is_symmetrised(tmp_path):
    tok = word_tokenizer(WORDS)
    model = _classifier(len(tok))
    judge = RewardModelJudge(model, tok, mode="pairwise")
    prompts, ys, yp = ["q"] * 3, ["rock", "paper no", "yes"], ["paper", "rock", "yes"]
    p = judge.probabilities([0] * 3, prompts, ys, yp)
    q = judge.probabilities([0] * 3, prompts, yp, ys)
    np.testing.assert_allclose((p + q).numpy(), 1.0, atol=1e-12)
    assert p[2].item() == pytest.approx(0.5, abs=1e-12)  # identical responses tie
    # saved to and loaded from a local folder: same probabilities
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded = RewardModelJudge.from_pretrained(str(tmp_path), mode="pairwise")
    np.testing.assert_allclose(loaded.probabilities([0] * 3, prompts, ys, yp).numpy(), p.numpy(), atol=1e-6)


def test_reward_judge_refuses_bad_mode_and_missing_folder(tmp_path):
    tok = word_tokenizer(WORDS)
    with pytest.raises(ValueError, match="mode"):
        RewardModelJudge(_classifier(len(tok)), tok, mode="listwise")
    with pytest.raises(FileNotFoundError):
        RewardModelJudge.from_pretrained(str(tmp_path / "missing"))
