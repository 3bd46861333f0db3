"""The verified update rules as LLM training losses on Hugging Face causal LMs, with a known-Nash language game.

    from nashlab.llm_bridge import (SequencePolicy, sequence_logprobs, LanguageGame, KnownNashJudge,
                                    RewardModelJudge, OnlineTrainer, TrainConfig, make_sequence_loss)

* :mod:`.policy` — per-sequence log-probs of responses (prompt masked, left/right padding, float32 log-softmax in
  chunks; a shared-prompt variant that runs each prompt once for its K responses).
* :mod:`.language_game` — prompts with known preference matrices; responses parsed to actions; the policy's exact
  action distribution (every token path of each spelling, followed by a word boundary) and its DG_0, DG_β,
  KL(π*_β‖π).
* :mod:`.judges` — batched pairwise preference queries: the known-Nash judge and a sequence-classification judge.
* :mod:`.losses` — a declared rule's derived loss (``nashlab.solvers.Rule``) on sequence log-probs (no loss maths
  here), and what the trainer reads from the declaration: phases, per-phase opponents, history, mixture weights.
* :mod:`.realisation_check` — ``nashlab verify``'s ``llm-realisation`` check: the trainer on a free-logit one-token
  model reproduces the rule's tabular step.
* :mod:`.generation` — K samples per prompt (temperature, top-p): ``generate`` on CPU, a static-cache compiled
  decoding loop on CUDA.
* :mod:`.trainer` — the recipe: the online loop with accelerate (DDP / FSDP / DeepSpeed), built from
  :mod:`.rollout` (sampling, judging, one win-rate estimator per opponent kind), :mod:`.realisation` (phases,
  restore-and-step, past iterates), :mod:`.fitting`, :mod:`.scoring`, :mod:`.train_metrics` (CSV and TensorBoard)
  and :mod:`.checkpointing` (exact resume; the file format is :mod:`.checkpoint`); its options are
  :mod:`.train_config`.
* :mod:`.config` — TOML run files for ``nashlab llm train``.
"""

from .generation import sample_mixture, sample_responses
from .judges import Judge, KnownNashJudge, RewardModelJudge
from .language_game import LanguageGame, augment, cyclic_language_game, first_word, sampled_action_distribution
from .losses import SequenceLoss, make_sequence_loss
from .policy import SequenceBatch, SequencePolicy, collate, load_policy, sequence_logprobs, shared_prompt_logprobs
from .tokenizer import tiny_causal_lm, word_tokenizer
from .trainer import OnlineTrainer, TrainConfig

__all__ = [
    "Judge", "KnownNashJudge", "LanguageGame", "OnlineTrainer", "RewardModelJudge", "SequenceBatch",
    "SequenceLoss", "SequencePolicy", "TrainConfig", "augment", "collate", "cyclic_language_game", "first_word",
    "load_policy", "make_sequence_loss", "sample_mixture", "sample_responses", "sampled_action_distribution",
    "sequence_logprobs", "shared_prompt_logprobs", "tiny_causal_lm", "word_tokenizer",
]
