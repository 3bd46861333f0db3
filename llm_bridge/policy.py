"""Sequence log-probabilities of responses under a Hugging Face causal LM.

For a prompt ``x`` and response ``y = (y_1 … y_L)`` the policy's sequence log-probability is

    ``log π(y|x) = Σ_{k=1..L} log softmax(f(x, y_<k))[y_k]``                      (summed, the default)
    ``log π̄(y|x) = (1/L) Σ_k log softmax(f(x, y_<k))[y_k]``                         (``normalize=True``)

where ``f`` are the model's next-token logits. Prompt tokens and padding never contribute. Prompt and response are
concatenated and the batch padded on the left (all sequences end at the last position, so only the last
``L_max + 1`` positions need logits, via ``logits_to_keep``) or on the right; ``position_ids`` are computed from the
attention mask so both paddings give the same numbers (tested against an unpadded per-token loop). The log-softmax is
taken in float32 over chunks of positions, so a bf16 model's ``[B, T, V]`` logits are never materialised in float32
at once.

Shapes: ``B`` sequences, ``T`` tokens, ``V`` vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import torch


class SequenceBatch(NamedTuple):
    """A padded batch of ``prompt + response`` token sequences.

    Attributes:
        input_ids: ``[B, T]`` long.
        attention_mask: ``[B, T]`` long, 1 on real tokens.
        response_mask: ``[B, T]`` bool, True on response tokens (never on prompt or padding).
        position_ids: ``[B, T]`` long, ``cumsum(attention_mask) − 1`` (0 on padding).
        padding_side: ``"left"`` or ``"right"``.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_mask: torch.Tensor
    position_ids: torch.Tensor
    padding_side: str

    def to(self, device) -> "SequenceBatch":
        return SequenceBatch(self.input_ids.to(device), self.attention_mask.to(device), self.response_mask.to(device),
                             self.position_ids.to(device), self.padding_side)

    @property
    def response_lengths(self) -> torch.Tensor:
        """``[B]`` number of response tokens per sequence."""
        return self.response_mask.sum(-1)


def collate(prompt_ids: Sequence[Sequence[int]], response_ids: Sequence[Sequence[int]], pad_token_id: int,
            padding_side: str = "left") -> SequenceBatch:
    """Concatenate each prompt with its response and pad the batch.

    Args:
        prompt_ids: ``B`` token lists (may be empty only if the response is non-empty and the model needs no BOS).
        response_ids: ``B`` non-empty token lists.
        pad_token_id: id written in padded positions (masked out everywhere).
        padding_side: ``"left"`` (generation-style; enables ``logits_to_keep``) or ``"right"``.

    Returns:
        :class:`SequenceBatch` on the CPU.

    Raises:
        ValueError: on mismatched lengths, an empty response, a sequence of length < 2, or a bad padding side.
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right'; got {padding_side!r}")
    if len(prompt_ids) != len(response_ids):
        raise ValueError(f"prompt_ids and response_ids must have the same length; got {len(prompt_ids)} and "
                         f"{len(response_ids)}")
    if not len(prompt_ids):
        raise ValueError("collate needs at least one sequence")
    seqs, resp = [], []
    for i, (p, r) in enumerate(zip(prompt_ids, response_ids)):
        p, r = list(p), list(r)
        if not r:
            raise ValueError(f"response {i} is empty; every response needs at least one token")
        if not p:
            raise ValueError(f"prompt {i} is empty; the first response token needs a context to be predicted from")
        seqs.append(p + r)
        resp.append([False] * len(p) + [True] * len(r))
    T = max(len(s) for s in seqs)
    B = len(seqs)
    ids = torch.full((B, T), int(pad_token_id), dtype=torch.long)
    att = torch.zeros((B, T), dtype=torch.long)
    rm = torch.zeros((B, T), dtype=torch.bool)
    for b, (s, m) in enumerate(zip(seqs, resp)):
        sl = slice(T - len(s), T) if padding_side == "left" else slice(0, len(s))
        ids[b, sl] = torch.tensor(s)
        att[b, sl] = 1
        rm[b, sl] = torch.tensor(m)
    pos = (att.cumsum(-1) - 1).clamp_min(0)
    return SequenceBatch(ids, att, rm, pos, padding_side)


def _accepts_logits_to_keep(model) -> bool:
    import inspect

    try:
        return "logits_to_keep" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - exotic wrappers
        return False


def token_logprobs(model, batch: SequenceBatch, *, chunk_size: int = 256) -> torch.Tensor:
    """Per-token log-probabilities ``log π(y_k | x, y_<k)`` on response positions, 0 elsewhere.

    The logit at position ``t`` predicts token ``t+1``. The last column predicts nothing in the batch and, under the
    causal mask, no earlier position attends to it, so it is left out of the forward (one position fewer per row:
    a fifth of the work of a 2-token prompt with a 3-token response). With left padding only the last ``L_max``
    positions are computed by the LM head. The float32 log-softmax runs over ``chunk_size`` positions at a time:
    ``log p = z[y] − logsumexp(z)`` in float32.

    Args:
        model: a ``transformers`` causal LM (or anything returning ``.logits`` from ``input_ids, attention_mask,
            position_ids``).
        batch: :class:`SequenceBatch` on the model's device.
        chunk_size: positions per float32 chunk.

    Returns:
        ``[B, T]`` float32.
    """
    ids, att, rm = batch.input_ids, batch.attention_mask, batch.response_mask
    B, T = ids.shape
    kwargs = dict(input_ids=ids[:, :-1], attention_mask=att[:, :-1], position_ids=batch.position_ids[:, :-1],
                  use_cache=False)
    if batch.padding_side == "left" and _accepts_logits_to_keep(model):
        keep = min(int(batch.response_lengths.max().item()), T - 1)
        logits = model(**kwargs, logits_to_keep=keep).logits  # [B, keep, V]: positions T-1-keep .. T-2
        start = T - 1 - keep
    else:
        logits = model(**kwargs).logits  # [B, T-1, V]
        start = 0
    # logits[:, j] sits at position start + j and predicts token start + j + 1.
    targets = ids[:, start + 1:]  # [B, keep]
    out = torch.zeros((B, T), dtype=torch.float32, device=ids.device)
    n = targets.shape[1]
    for c in range(0, n, chunk_size):
        z = logits[:, c:c + chunk_size].float()  # [B, c, V]
        tgt = targets[:, c:c + chunk_size]
        lp = z.gather(-1, tgt.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(z, dim=-1)
        out[:, start + 1 + c:start + 1 + c + tgt.shape[1]] = lp
    return torch.where(rm, out, torch.zeros_like(out))


def sequence_logprobs(model, batch: SequenceBatch, *, normalize: bool = False, chunk_size: int = 256) -> torch.Tensor:
    """``log π(y|x)`` per sequence: the sum of :func:`token_logprobs` over response tokens (divided by the response
    length ``L`` when ``normalize``, the SimPO / MNPO / EGPO-code convention).

    Returns:
        ``[B]`` float32 (differentiable w.r.t. the model's parameters).
    """
    lp = token_logprobs(model, batch, chunk_size=chunk_size).sum(-1)
    if normalize:
        lp = lp / batch.response_lengths.clamp_min(1).to(lp.dtype)
    return lp


@dataclass
class SequencePolicy:
    """A causal LM with its tokenizer and prompt format.

    Attributes:
        model: ``transformers`` ``*ForCausalLM``.
        tokenizer: its tokenizer (``pad_token_id`` falls back to ``eos_token_id``).
        chat_template: wrap each prompt as a user turn with ``tokenizer.apply_chat_template`` (instruct models).
        add_bos: prepend ``bos_token_id`` to plain prompts (word-level tokenizers have no post-processor).
    """

    model: object
    tokenizer: object
    chat_template: bool = False
    add_bos: bool = True

    @property
    def pad_token_id(self) -> int:
        tok = self.tokenizer
        return int(tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)

    @property
    def eos_token_id(self) -> int:
        return int(self.tokenizer.eos_token_id)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode_prompt(self, prompt: str) -> list[int]:
        """Token ids of a prompt as the model sees it before its response."""
        tok = self.tokenizer
        if self.chat_template:
            ids = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                          tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            return list(ids)
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        if self.add_bos and tok.bos_token_id is not None and (not ids or ids[0] != tok.bos_token_id):
            ids = [int(tok.bos_token_id)] + list(ids)
        return list(ids)

    def encode_response(self, text: str) -> list[int]:
        """Token ids of a response text followed by EOS (how a sampled response that stopped would look)."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"]) + [self.eos_token_id]

    def decode(self, response_ids: Sequence[int]) -> str:
        """The response's text as the language-game parser reads it: the final EOS dropped, every other token
        (special ones included, e.g. ``<unk>``) decoded, so a special token is visible text, never skipped."""
        ids = list(response_ids)
        if ids and ids[-1] == self.eos_token_id:
            ids = ids[:-1]
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def logprobs(self, prompt_ids, response_ids, *, normalize: bool = False, padding_side: str = "left",
                 model=None) -> torch.Tensor:
        """``[B]`` sequence log-probabilities of ``response_ids`` given ``prompt_ids`` (lists of token lists) under
        ``model`` (default: this policy's model; pass a reference or snapshot model to score under it)."""
        model = self.model if model is None else model
        batch = collate(prompt_ids, response_ids, self.pad_token_id, padding_side).to(self.device)
        return sequence_logprobs(model, batch, normalize=normalize)


def load_policy(path: str, *, gguf_file: str | None = None, dtype: str = "float32", chat_template: bool = False,
                device: str = "cpu") -> SequencePolicy:
    """Load a causal LM and its tokenizer from a local folder (``local_files_only``; weights from
    ``model.safetensors``, never a pickled ``.bin``, or from a GGUF file inside it with ``gguf_file``, which needs
    the ``gguf`` package)."""
    import os

    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not os.path.isdir(path):
        raise FileNotFoundError(f"model path {path!r} is not a directory")
    kw = dict(local_files_only=True)
    if gguf_file is not None:
        kw["gguf_file"] = gguf_file
    # weights only from safetensors (or GGUF): a folder someone sent may hold a pickled pytorch_model.bin
    mkw = kw if gguf_file is not None else dict(kw, use_safetensors=True)
    try:
        tok = AutoTokenizer.from_pretrained(path, **kw)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype), **mkw).to(device).eval()
    except OSError as exc:  # no safetensors weights, no tokenizer files: transformers' multi-line advice
        raise ValueError(f"model path {path!r}: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return SequencePolicy(model, tok, chat_template=chat_template, add_bos=not chat_template)


def shared_prompt_logprobs(model, prompt_ids: Sequence[int], response_ids: Sequence[Sequence[int]], *,
                           normalize: bool = False, cache_kw: str | None = None) -> torch.Tensor:
    """``[K]`` sequence log-probs of ``K`` responses to ONE prompt, running the prompt once.

    The prompt goes through the model with batch 1 (keeping its KV cache, differentiable), the cache is repeated to
    the ``K`` responses, which run right-padded with ``position_ids = P + k``. Token ``k`` of a response is predicted
    by the prompt's last logits (``k = 0``) or by the response's logits at ``k − 1``. Same numbers (and gradients) as
    :func:`sequence_logprobs` on the ``K`` concatenated sequences (tested), at about ``P + K·L`` instead of
    ``K·(P + L)`` token positions — the trainer's case, ``K`` samples per prompt.
    """
    from transformers import DynamicCache

    if cache_kw is None:
        from .generation import _cache_kw

        cache_kw = _cache_kw(model)
    device = next(model.parameters()).device
    P = len(prompt_ids)
    cache = DynamicCache()
    out = model(input_ids=torch.tensor([list(prompt_ids)], device=device), use_cache=True, **{cache_kw: cache})
    first = out.logits[0, -1]  # [V] predicts every response's token 0
    K = len(response_ids)
    L = max(len(r) for r in response_ids)
    ids = torch.zeros((K, L), dtype=torch.long)
    rmask = torch.zeros((K, L), dtype=torch.bool)
    for k, r in enumerate(response_ids):
        ids[k, :len(r)] = torch.tensor(list(r))
        rmask[k, :len(r)] = True
    ids, rmask = ids.to(device), rmask.to(device)
    cache.batch_repeat_interleave(K)
    lp0 = torch.log_softmax(first.float(), -1)[ids[:, 0]]  # [K]
    total = lp0
    if L > 1:
        att = torch.cat([torch.ones((K, P), dtype=torch.long, device=device), rmask.long()], 1)
        pos = (P + torch.arange(L - 1, device=device)).expand(K, L - 1)
        logits = model(input_ids=ids[:, :-1], attention_mask=att[:, :P + L - 1], position_ids=pos, use_cache=True,
                       **{cache_kw: cache}).logits  # [K, L-1, V]: position k predicts token k+1
        z = logits.float()
        tgt = ids[:, 1:]
        lp = z.gather(-1, tgt.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(z, -1)
        total = total + torch.where(rmask[:, 1:], lp, torch.zeros_like(lp)).sum(-1)
    if normalize:
        total = total / rmask.sum(-1).clamp_min(1).to(total.dtype)
    return total
