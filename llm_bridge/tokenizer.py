"""A word-level tokenizer built in code from a word list (no downloads), and tiny random-init causal LMs.

Tests and the CPU configs use these so that nothing needs network access: every word of the list is one token, so a
response's first word is its first token and the exact action distribution of a language game is one softmax.
"""

from __future__ import annotations

from typing import Sequence

#: Special tokens, in id order 0..3.
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")


def word_tokenizer(words: Sequence[str]):
    """A ``transformers`` fast tokenizer whose vocabulary is ``SPECIAL_TOKENS + words`` (ids in that order).

    Text is split on whitespace; a word not in the list becomes ``<unk>``; decoding joins tokens with single spaces.

    Args:
        words: distinct non-empty words without whitespace.

    Returns:
        ``PreTrainedTokenizerFast`` with ``pad/bos/eos/unk`` set; ``len(tok) == 4 + len(words)``.

    Raises:
        ValueError: if a word is empty, contains whitespace, repeats, or is a special token.

    >>> tok = word_tokenizer(["rock", "paper"])
    >>> tok("rock paper")["input_ids"], tok.decode([4, 5])
    ([4, 5], 'rock paper')
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = list(words)
    seen = set(SPECIAL_TOKENS)
    for w in words:
        if not isinstance(w, str) or not w or any(c.isspace() for c in w):
            raise ValueError(f"words must be non-empty strings without whitespace; got {w!r}")
        if w in seen:
            raise ValueError(f"words must be distinct and not special tokens; {w!r} repeats")
        seen.add(w)
    vocab = {w: i for i, w in enumerate(list(SPECIAL_TOKENS) + words)}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tk.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins word tokens with one space
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>", unk_token="<unk>"
    )


def tiny_causal_lm(vocab_size: int, *, family: str = "llama", hidden: int = 64, layers: int = 2, heads: int = 4,
                   max_positions: int = 64, seed: int = 0, pad_token_id: int = 0, bos_token_id: int = 1,
                   eos_token_id: int = 2, intermediate: int | None = None, device: str | None = None):
    """A randomly initialised causal LM of a given family, built from its config (no weights downloaded).

    Args:
        vocab_size: ``V``.
        family: ``"llama"``, ``"qwen2"`` or ``"gpt2"``.
        hidden, layers, heads: width, depth and attention heads (``hidden % heads == 0``).
        intermediate: MLP width (default ``2 * hidden``; GPT-2 uses ``4 * hidden``).
        max_positions: context length.
        seed: the seed of the initialisation, drawn inside ``torch.random.fork_rng`` over the CPU and every
            CUDA device in use, so the caller's RNG states (CPU and CUDA) are left exactly as they were.
        device: ``"meta"`` builds the module without memory (to count its parameters before allocating them).

    Returns:
        A ``transformers`` ``*ForCausalLM`` in float32, in eval mode.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    if hidden % heads:
        raise ValueError(f"hidden must be divisible by heads; got hidden={hidden}, heads={heads}")
    inter = int(intermediate) if intermediate else 2 * hidden
    common = dict(vocab_size=vocab_size, pad_token_id=pad_token_id, bos_token_id=bos_token_id,
                  eos_token_id=eos_token_id, tie_word_embeddings=False)
    if family == "llama":
        cfg = LlamaConfig(hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                          num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=max_positions,
                          **common)
        cls = LlamaForCausalLM
    elif family == "qwen2":
        cfg = Qwen2Config(hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                          num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=max_positions,
                          **common)
        cls = Qwen2ForCausalLM
    elif family == "gpt2":
        cfg = GPT2Config(n_embd=hidden, n_layer=layers, n_head=heads, n_positions=max_positions, **common)
        cls = GPT2LMHeadModel
    else:
        raise ValueError(f"family must be one of 'llama', 'qwen2', 'gpt2'; got {family!r}")
    # transformers initialises the weights through the global RNG of the device they are built on; fork it (CPU and
    # every CUDA device that is or will be touched) so that the caller's RNG streams are exactly as they were
    cuda = torch.cuda.is_available() and (torch.cuda.is_initialized()
                                          or (device is not None and torch.device(device).type == "cuda"))
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count())) if cuda else []):
        # torch.manual_seed would also queue a seed for CUDA devices not yet initialised (applied when CUDA starts,
        # after the fork has ended): seed only the generators the fork restores
        (torch.manual_seed if cuda else torch.random.default_generator.manual_seed)(seed)
        if device is None:
            model = cls(cfg)
        else:
            with torch.device(device):
                model = cls(cfg)
    return model.eval()
