"""Judges: batched pairwise preference queries ``Pr(y ≻ y' | x)``.

A judge answers ``B`` queries at once. :meth:`Judge.probabilities` gives ``p_b = Pr(y_b ≻ y'_b | x_b)`` where the
judge has a probability model; :meth:`Judge.compare` gives outcomes ``o_b ∈ {0, 1}`` (or probabilities, for a judge
used without sampling), drawn from a ``torch.Generator`` seeded per call, so a query's answer depends only on the
seed and the batch — not on the process that asks it (one process == two processes in distributed training).

* :class:`KnownNashJudge`: the language game's own preferences, ``p = P⁺_c[a(y), a(y')]`` with ``a(·)`` the game's
  parser (an unparseable response loses to every action).
* :class:`RewardModelJudge`: a ``transformers`` sequence-classification model. Scalar-reward mode is Bradley–Terry,
  ``p = σ(r(x, y) − r(x, y'))``; pairwise mode feeds ``x, y, y'`` to the model (one logit ``f``) and symmetrises,
  ``p = ½(σ(f(x, y, y')) + 1 − σ(f(x, y', y)))``, so that ``p(y, y') + p(y', y) = 1``.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import torch


@runtime_checkable
class Judge(Protocol):
    """Batched pairwise preference queries."""

    def probabilities(self, contexts: Sequence[int], prompts: Sequence[str], responses: Sequence[str],
                      responses_other: Sequence[str]) -> torch.Tensor:
        """``[B]`` float64 ``Pr(y_b ≻ y'_b | x_b)``."""

    def compare(self, contexts: Sequence[int], prompts: Sequence[str], responses: Sequence[str],
                responses_other: Sequence[str], *, seed: int) -> torch.Tensor:
        """``[B]`` float64 outcomes in {0, 1} with mean :meth:`probabilities`."""


class _BernoulliMixin:
    sample: bool = True

    def compare(self, contexts, prompts, responses, responses_other, *, seed: int) -> torch.Tensor:
        p = self.probabilities(contexts, prompts, responses, responses_other)
        if not self.sample:
            return p
        g = torch.Generator().manual_seed(int(seed))
        return torch.bernoulli(p.cpu(), generator=g)


class KnownNashJudge(_BernoulliMixin):
    """Preferences of a :class:`~nashlab.llm_bridge.language_game.LanguageGame`: ``P⁺_c[a(y), a(y')]``.

    Args:
        game: the language game (its ``parse`` and ``P_aug``).
        sample: Bernoulli outcomes (default) or the probabilities themselves (a noiseless judge).
    """

    def __init__(self, game, sample: bool = True) -> None:
        self.game = game
        self.sample = sample
        self.P_aug = torch.as_tensor(game.P_aug, dtype=torch.float64)
        self.queries = 0

    def probabilities(self, contexts, prompts, responses, responses_other) -> torch.Tensor:
        if not len(contexts) == len(responses) == len(responses_other):
            raise ValueError(f"contexts, responses and responses_other must have the same length; got "
                             f"{len(contexts)}, {len(responses)}, {len(responses_other)}")
        a = torch.tensor([self.game.parse(r) for r in responses], dtype=torch.long)
        b = torch.tensor([self.game.parse(r) for r in responses_other], dtype=torch.long)
        c = torch.as_tensor(list(contexts), dtype=torch.long)
        self.queries += len(a)
        return self.P_aug[c, a, b]


class RewardModelJudge(_BernoulliMixin):
    """A judge from a ``transformers`` ``*ForSequenceClassification`` model with one output logit.

    Args:
        model: the classifier (``num_labels = 1``).
        tokenizer: its tokenizer (needs a pad token).
        mode: ``"reward"`` (score ``prompt + response``; Bradley–Terry) or ``"pairwise"`` (score
            ``prompt + sep + y + sep + y'``).
        sep: separator text for pairwise inputs and between prompt and response.
        sample: Bernoulli outcomes (default) or probabilities.
        batch_size: sequences per forward pass.
    """

    def __init__(self, model, tokenizer, mode: str = "reward", sep: str = " ", sample: bool = True,
                 batch_size: int = 64) -> None:
        if mode not in ("reward", "pairwise"):
            raise ValueError(f"mode must be 'reward' or 'pairwise'; got {mode!r}")
        if tokenizer.pad_token_id is None:
            raise ValueError("the judge's tokenizer needs a pad token (set tokenizer.pad_token)")
        self.model, self.tokenizer, self.mode, self.sep = model.eval(), tokenizer, mode, sep
        self.sample, self.batch_size = sample, batch_size
        self.queries = 0

    @classmethod
    def from_pretrained(cls, path: str, **kwargs) -> "RewardModelJudge":
        """Load a local classifier folder (``local_files_only``)."""
        import os

        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if not os.path.isdir(path):
            raise FileNotFoundError(f"judge path {path!r} is not a directory")
        try:
            tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
            # safetensors only: a pickled pytorch_model.bin in a folder someone sent could run code
            model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True,
                                                                       use_safetensors=True)
        except OSError as exc:  # no safetensors weights, no tokenizer files: transformers' multi-line advice
            raise ValueError(f"judge path {path!r}: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        return cls(model, tok, **kwargs)

    @torch.no_grad()
    def scores(self, texts: Sequence[str]) -> torch.Tensor:
        """``[B]`` float64 scalar outputs ``f(text)`` (right-padded batches; the model pools its last real token)."""
        out = []
        dev = next(self.model.parameters()).device
        for s in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(list(texts[s:s + self.batch_size]), return_tensors="pt", padding=True,
                                 add_special_tokens=False)
            logits = self.model(input_ids=enc["input_ids"].to(dev), attention_mask=enc["attention_mask"].to(dev)).logits
            out.append(logits[:, 0].double().cpu())
        return torch.cat(out)

    def probabilities(self, contexts, prompts, responses, responses_other) -> torch.Tensor:
        if not len(prompts) == len(responses) == len(responses_other):
            raise ValueError("prompts, responses and responses_other must have the same length")
        self.queries += len(responses)
        s = self.sep
        if self.mode == "reward":
            r = self.scores([p + s + y for p, y in zip(prompts, responses)])
            r2 = self.scores([p + s + y for p, y in zip(prompts, responses_other)])
            return torch.sigmoid(r - r2)
        f = self.scores([p + s + y + s + y2 for p, y, y2 in zip(prompts, responses, responses_other)])
        f2 = self.scores([p + s + y2 + s + y for p, y, y2 in zip(prompts, responses, responses_other)])
        return 0.5 * (torch.sigmoid(f) + 1.0 - torch.sigmoid(f2))
