"""Shared builders for the llm_bridge tests: a tiny Llama on a 3-action cyclic language game (hidden 32, 2 layers)."""

import torch

from nashlab.llm_bridge.judges import KnownNashJudge
from nashlab.llm_bridge.language_game import cyclic_language_game
from nashlab.llm_bridge.policy import SequencePolicy
from nashlab.llm_bridge.tokenizer import tiny_causal_lm, word_tokenizer
from nashlab.llm_bridge.trainer import OnlineTrainer, TrainConfig


def tiny_run(solver="egpo", contexts=4, accelerator=None, out_dir=None, **train):
    game, words = cyclic_language_game(3, contexts, beta=0.05)
    tok = word_tokenizer(words)
    policy = SequencePolicy(tiny_causal_lm(len(tok), hidden=32, seed=0), tok)
    kw = dict(solver=solver, eta=0.9, iterations=3, samples_per_prompt=6, num_comparisons=4, epochs=2,
              prompts_per_step=2, lr=1e-2, max_new_tokens=3, bf16="no", seed=1)
    kw.update(train)
    return OnlineTrainer(policy, KnownNashJudge(game), game, TrainConfig(**kw), out_dir=out_dir,
                         accelerator=accelerator)


def state(trainer):
    return {k: v.detach().cpu().clone() for k, v in trainer.unwrapped.state_dict().items()}
