"""A language game whose Nash equilibrium is known: responses are read as actions of a ``games/`` preference matrix.

Context ``c`` (one prompt) carries a preference matrix ``P_c [n, n]`` over ``n`` actions, each action a list of
spellings. A response's action is read by :func:`parse_action`:

    strip leading whitespace; the *first word* is the longest leading run of ASCII letters ``[A-Za-z]+``; compared
    case-insensitively with every spelling; a match gives that action, anything else (no leading letter, an unknown
    word, an empty response) is the extra action ``other`` (index ``n``).

``other`` is dominated by every real action: the augmented matrix ``P⁺ [n+1, n+1]`` has ``P⁺[a, b] = P[a, b]`` for
real actions, ``P⁺[a, other] = 1``, ``P⁺[other, a] = 0`` and ``P⁺[other, other] = ½`` (still ``P⁺ + P⁺ᵀ = 1``). Its
equilibria put no mass on ``other``; the maximal lottery of ``P⁺`` is that of ``P`` padded with 0.

**Exact action distribution.** The event "the first word is spelling ``s``" is, for a token path ``t_1..t_m`` of ``s``,
the path followed by a *boundary* token (one whose text does not start with an ASCII letter, or EOS, which ends the
response):

    ``π(s | x) = Σ_{paths t of s} Π_k π(t_k | x, t_<k) · Σ_{b ∈ boundary} π(b | x, t)``.

Distinct paths followed by a boundary are disjoint events, so the sum is exact over the listed texts. The listed
texts of an action are each spelling in four cases (``rock``, ``Rock``, ``ROCK``, as given) with no or one leading
space, and *every* token path of each text is found by search (canonical and non-canonical splits alike). Other
texts that parse to the action (mixed case ``rOcK``, two leading spaces) are counted in ``other``. Token texts and
the boundary set are computed once per tokenizer from ``decode([ref, t])`` (:func:`token_surfaces`), which assumes a
token's text does not depend on its left neighbour (true for byte-level BPE, Metaspace BPE and
:func:`~nashlab.llm_bridge.tokenizer.word_tokenizer`).
With a word-level tokenizer every token is a whole word, so the sum reduces to a softmax over the first token.
Where the parser does not allow this (``exact=False``), :func:`sampled_action_distribution` estimates ``π`` from
samples with Wilson confidence intervals.

**Metrics** (:meth:`LanguageGame.metrics`), per context, averaged over contexts, all from ``nashlab.games`` on ``P⁺``:
``DG_0(π) = 2 max_y (P⁺π)_y − 1``, ``DG_β(π)`` with ``π_ref`` the reference model's exact action distribution, and
``KL(π*_β ‖ π)`` with ``π*_β = regularized_nash(P⁺, π_ref, β)``. These are action-level (the game the parser defines),
not sequence-level, quantities.
"""

from __future__ import annotations

import copy
import math
import re
import weakref
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from nashlab.games import duality_gap, kl_to_nash, reg_duality_gap, regularized_nash, validate_preference_matrix

_FIRST_WORD = re.compile(r"\s*([A-Za-z]+)")


def first_word(text: str) -> str | None:
    """The leading run of ASCII letters after leading whitespace, lower-cased; ``None`` if there is none.

    >>> first_word("  Rock! I choose rock"), first_word("...rock"), first_word("")
    ('rock', None, None)
    """
    m = _FIRST_WORD.match(text)
    return m.group(1).lower() if m else None


def augment(P: np.ndarray) -> np.ndarray:
    """``P⁺ [..., n+1, n+1]``: ``P`` with a dominated extra action (loses to every real action, ties itself)."""
    P = np.asarray(P, dtype=np.float64)
    n = P.shape[-1]
    out = np.zeros(P.shape[:-2] + (n + 1, n + 1))
    out[..., :n, :n] = P
    out[..., :n, n] = 1.0
    out[..., n, n] = 0.5
    return out


@dataclass
class LanguageGame:
    """Prompts with known preference matrices over word actions.

    Attributes:
        prompts: ``C`` prompt texts; context ``c`` is prompt ``c``.
        actions: ``n`` lists of spellings (the first is the action's name); matched case-insensitively.
        P: ``[C, n, n]`` or ``[n, n]`` (shared by all contexts) preference matrix over real actions.
        beta: KL weight ``β ≥ 0`` of the regularised game used for ``DG_β`` and ``π*_β``.
    """

    prompts: list[str]
    actions: list[list[str]]
    P: np.ndarray
    beta: float = 0.0
    _lookup: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.prompts = [str(p) for p in self.prompts]
        if not self.prompts:
            raise ValueError("a language game needs at least one prompt")
        self.actions = [[str(s) for s in a] for a in self.actions]
        if len(self.actions) < 2:
            raise ValueError(f"a language game needs at least 2 actions; got {len(self.actions)}")
        lookup = {}
        for a, spellings in enumerate(self.actions):
            if not spellings:
                raise ValueError(f"action {a} has no spelling")
            for s in spellings:
                if not re.fullmatch(r"[A-Za-z]+", s):
                    raise ValueError(f"spellings must be single ASCII words (the parser reads [A-Za-z]+); got {s!r}")
                if lookup.get(s.lower(), a) != a:
                    raise ValueError(f"spelling {s!r} is listed for two actions ({lookup[s.lower()]} and {a})")
                lookup[s.lower()] = a
        self._lookup = lookup
        P = validate_preference_matrix(np.asarray(self.P, dtype=np.float64))
        n = len(self.actions)
        if P.shape[-1] != n:
            raise ValueError(f"P has {P.shape[-1]} actions but {n} action spellings were given")
        if P.ndim == 2:
            P = np.broadcast_to(P, (len(self.prompts), n, n)).copy()
        if P.shape != (len(self.prompts), n, n):
            raise ValueError(f"P must have shape [C={len(self.prompts)}, n={n}, n] or [n, n]; got {P.shape}")
        self.P = P
        self.beta = float(self.beta)
        if not (self.beta >= 0 and math.isfinite(self.beta)):
            raise ValueError(f"beta must be a finite number ≥ 0; got {self.beta!r}")

    @property
    def n(self) -> int:
        """Number of real actions (``other`` is index ``n``)."""
        return len(self.actions)

    @property
    def num_contexts(self) -> int:
        return len(self.prompts)

    @property
    def action_names(self) -> list[str]:
        return [a[0].lower() for a in self.actions] + ["other"]

    @property
    def P_aug(self) -> np.ndarray:
        """``P⁺ [C, n+1, n+1]``."""
        return augment(self.P)

    def parse(self, text: str) -> int:
        """Action index of a response text (``n`` for ``other``); see the module docstring for the rule."""
        w = first_word(text)
        return self._lookup.get(w, self.n) if w is not None else self.n

    # ------------------------------------------------------------------ exact action distribution

    def token_paths(self, tokenizer, max_paths_per_text: int = 4096) -> list[tuple[int, tuple[int, ...]]]:
        """``(action, token ids)`` for every token sequence whose text is a listed spelling — each spelling in its
        given, lower, Capitalised and UPPER case, with no or one leading space — found by a depth-first search over
        the tokens' texts (:func:`token_surfaces`), so non-canonical splits (``ro|ck``) are included.

        Raises:
            ValueError: if a text has more than ``max_paths_per_text`` token paths.
        """
        surf = token_surfaces(tokenizer)
        by_first: dict[str, list[int]] = {}
        for t, text in enumerate(surf):
            if text and t != tokenizer.eos_token_id:
                by_first.setdefault(text[0], []).append(t)
        out, seen = [], set()
        for a, spellings in enumerate(self.actions):
            variants = []
            for sp in spellings:
                variants += [sp, sp.lower(), sp.capitalize(), sp.upper()]
            for v in dict.fromkeys(variants):
                for text in (v, " " + v):
                    found: list[tuple[int, ...]] = []
                    stack = [(text, ())]
                    while stack:
                        rest, prefix = stack.pop()
                        if not rest:
                            found.append(prefix)
                            if len(found) > max_paths_per_text:
                                raise ValueError(f"more than {max_paths_per_text} token paths spell {text!r}")
                            continue
                        for t in by_first.get(rest[0], ()):
                            if rest.startswith(surf[t]):
                                stack.append((rest[len(surf[t]):], prefix + (t,)))
                    for ids in found:
                        if ids not in seen:
                            seen.add(ids)
                            out.append((a, ids))
        return out

    def exact_action_distribution(self, policy, model=None, *, batch_size: int = 32,
                                  prune: float = 1e-10) -> torch.Tensor:
        """``π(a | x_c)`` for every context and action (``other`` last), summed over every token path of the listed
        texts (see :meth:`token_paths`) followed by a boundary token.

        The paths are walked as a trie, depth by depth: each prompt is run once and its KV cache copied to a batch
        of prefixes, one row per distinct prefix, so shared prefixes are scored once; a branch whose prefix probability falls below ``prune`` is dropped. The dropped
        mass is at most the sum of those prefix probabilities, kept in ``self.last_pruned_mass`` (``[C]``); it is
        below 1e-8 in every run recorded here.

        Args:
            policy: a :class:`~nashlab.llm_bridge.policy.SequencePolicy` (its tokenizer and prompt format).
            model: the model to evaluate (default ``policy.model``).
            batch_size: prefixes per forward pass.
            prune: probability below which a prefix is not extended.

        Returns:
            ``[C, n+1]`` float64 on the CPU, rows summing to 1 (``other = 1 − Σ_real``, clamped at 0).
        """
        from transformers import DynamicCache

        model = policy.model if model is None else model
        tok = policy.tokenizer
        surf = token_surfaces(tok)
        by_first: dict[str, list[int]] = {}
        for t, text in enumerate(surf):
            if text and t != tok.eos_token_id:
                by_first.setdefault(text[0], []).append(t)
        dev = policy.device
        boundary = boundary_token_mask(tok, model_vocab=_vocab_size(model)).to(dev)
        prompt_ids = [policy.encode_prompt(p) for p in self.prompts]
        texts = []
        for a, spellings in enumerate(self.actions):
            variants = []
            for sp in spellings:
                variants += [sp, sp.lower(), sp.capitalize(), sp.upper()]
            texts += [(a, text) for v in dict.fromkeys(variants) for text in (v, " " + v)]
        # frontier items: (context, action, remaining text, prefix ids, log-prob of the prefix)
        frontier = [(c, a, text, (), 0.0) for c in range(self.num_contexts) for a, text in texts]
        probs = torch.zeros(self.num_contexts, self.n + 1, dtype=torch.float64)
        pruned = torch.zeros(self.num_contexts, dtype=torch.float64)
        log_prune = math.log(prune)
        was_training = model.training
        model.eval()
        from .generation import _cache_kw

        ckw = _cache_kw(model)
        with torch.no_grad():
            # prefill each prompt once; prefixes then run on a copy of its KV cache
            roots = {}
            for c, ids in enumerate(prompt_ids):
                cache = DynamicCache()
                out = model(input_ids=torch.tensor([ids], device=dev), use_cache=True, **{ckw: cache})
                roots[c] = (cache, len(ids), out.logits[0, -1].float())
            while frontier:
                keys = list(dict.fromkeys((c, pre) for c, _, _, pre, _ in frontier))
                dist = {}
                todo: dict[int, list] = {}
                for key in keys:
                    if key[1]:
                        todo.setdefault(key[0], []).append(key)
                    else:
                        dist[key] = self._log_dist(roots[key[0]][2][None], boundary)[0]
                for c, ks in todo.items():
                    cache0, P0, _ = roots[c]
                    for s0 in range(0, len(ks), batch_size):
                        chunk = ks[s0:s0 + batch_size]
                        B, m = len(chunk), max(len(pre) for _, pre in chunk)
                        ids = torch.full((B, m), policy.pad_token_id, dtype=torch.long)
                        att = torch.ones((B, P0 + m), dtype=torch.long)
                        for i, (_, pre) in enumerate(chunk):  # right-padded: pads come after the real tokens
                            ids[i, :len(pre)] = torch.tensor(pre)
                            att[i, P0 + len(pre):] = 0
                        cache = copy.deepcopy(cache0)
                        cache.batch_repeat_interleave(B)
                        pos = (P0 + torch.arange(m)).expand(B, m)
                        logits = model(input_ids=ids.to(dev), attention_mask=att.to(dev), position_ids=pos.to(dev),
                                       use_cache=True, **{ckw: cache}).logits.float()
                        last = torch.tensor([len(pre) - 1 for _, pre in chunk], device=logits.device)
                        rows = logits[torch.arange(B, device=logits.device), last]  # [B, V] after each prefix
                        for key, d in zip(chunk, self._log_dist(rows, boundary)):
                            dist[key] = d
                nxt = []
                for c, a, rest, pre, logp in frontier:
                    lp, bnd = dist[(c, pre)]
                    if not rest:  # the whole text is spelled: the next token must end the word
                        probs[c, a] += math.exp(logp + bnd)
                        continue
                    for t in by_first.get(rest[0], ()):
                        if rest.startswith(surf[t]):
                            nl = logp + float(lp[t])
                            if nl >= log_prune:
                                nxt.append((c, a, rest[len(surf[t]):], pre + (t,), nl))
                            else:
                                pruned[c] += math.exp(nl)
                frontier = nxt
        model.train(was_training)
        self.last_pruned_mass = pruned
        probs[:, self.n] = (1.0 - probs[:, :self.n].sum(-1)).clamp_min(0.0)
        return probs / probs.sum(-1, keepdim=True)

    @staticmethod
    def _log_dist(logits: torch.Tensor, boundary: torch.Tensor) -> list:
        """``[(log-softmax [V] float64 CPU, log Σ_boundary p)]`` per row of ``logits [B, V]``."""
        lp = torch.log_softmax(logits.float(), -1)
        bnd = torch.logsumexp(lp.masked_fill(~boundary[:lp.shape[-1]], float("-inf")), -1)
        return [(lp[i].double().cpu(), float(bnd[i])) for i in range(lp.shape[0])]

    # ------------------------------------------------------------------ metrics

    def metrics(self, pi, pi_ref) -> dict[str, float]:
        """Action-level equilibrium metrics of ``π`` (``[C, n+1]``) averaged over contexts.

        Returns:
            ``duality_gap`` (``DG_0`` on ``P⁺``), ``reg_duality_gap`` (``DG_β``, equal to ``DG_0`` when β = 0),
            ``kl_to_nash`` (``KL(π*_β‖π)``; ``nan`` when β = 0), ``other_mass`` (mean ``π(other)``), and
            ``pi`` (the per-context distributions as nested lists).
        """
        pi = np.asarray(torch.as_tensor(pi, dtype=torch.float64).cpu(), dtype=np.float64)
        pi_ref = np.asarray(torch.as_tensor(pi_ref, dtype=torch.float64).cpu(), dtype=np.float64)
        Pa = self.P_aug
        out = {"duality_gap": float(np.mean(duality_gap(Pa, pi)))}
        if self.beta > 0:
            ref = np.clip(pi_ref, 1e-300, None)
            ref = ref / ref.sum(-1, keepdims=True)
            out["reg_duality_gap"] = float(np.mean(reg_duality_gap(Pa, pi, ref, self.beta)))
            star = regularized_nash(Pa, ref, self.beta)
            out["kl_to_nash"] = float(np.mean(kl_to_nash(star, np.clip(pi, 1e-300, None))))
        else:
            out["reg_duality_gap"] = out["duality_gap"]
            out["kl_to_nash"] = float("nan")
        out["other_mass"] = float(pi[:, self.n].mean())
        return out


def _vocab_size(model) -> int:
    return int(model.get_output_embeddings().weight.shape[0])


# Keyed by the tokenizer object itself, weakly: an ``id()`` key is reused once a tokenizer is garbage-collected, which
# handed a later tokenizer the surfaces (and word boundaries) of an earlier one.
_SURFACE_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def token_surfaces(tokenizer) -> list[str]:
    """The text each token adds when decoded after a letter token (special tokens decoded as text, as
    :meth:`SequencePolicy.decode` does): ``decode([ref, t])[len(decode([ref])):]``. Assumes a token's text does not
    depend on its left neighbour beyond that (true for byte-level BPE, Metaspace BPE and word-level tokenizers)."""
    try:
        return _SURFACE_CACHE[tokenizer]
    except (KeyError, TypeError):  # TypeError: not weak-referenceable, computed every time
        pass
    ref_ids = tokenizer("a", add_special_tokens=False)["input_ids"]
    ref_text = tokenizer.decode(ref_ids)
    texts = tokenizer.batch_decode([ref_ids + [t] for t in range(len(tokenizer))], skip_special_tokens=False)
    surfaces = [tx[len(ref_text):] if tx.startswith(ref_text) else tx for tx in texts]
    try:
        _SURFACE_CACHE[tokenizer] = surfaces
    except TypeError:
        pass
    return surfaces


def boundary_token_mask(tokenizer, model_vocab: int | None = None) -> torch.Tensor:
    """``[V]`` bool: True for tokens that end a first word — EOS (it ends the response) and every token whose text
    (:func:`token_surfaces`) does not start with an ASCII letter.

    ``V`` is ``model_vocab`` when given (ids beyond the tokenizer, e.g. padding rows of the embedding, count as
    boundaries: they decode to nothing).
    """
    surf = token_surfaces(tokenizer)
    V = max(len(surf), model_vocab or 0)
    mask = torch.ones(V, dtype=torch.bool)
    for t, text in enumerate(surf):
        if t != tokenizer.eos_token_id:
            mask[t] = not (text[:1].isascii() and text[:1].isalpha())
    return mask


def wilson_interval(counts: np.ndarray, total: int, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for binomial proportions ``counts / total`` (elementwise): centre
    ``(p̂ + z²/2N) / (1 + z²/N)``, half-width ``z √(p̂(1−p̂)/N + z²/4N²) / (1 + z²/N)``."""
    counts = np.asarray(counts, dtype=np.float64)
    N = float(total)
    p = counts / N
    denom = 1.0 + z * z / N
    centre = (p + z * z / (2 * N)) / denom
    half = z * np.sqrt(p * (1 - p) / N + z * z / (4 * N * N)) / denom
    return centre - half, centre + half


def sampled_action_distribution(policy, game: LanguageGame, num_samples: int, *, max_new_tokens: int = 4,
                                seed: int = 0, z: float = 1.96, model=None, path: str = "auto"):
    """Estimate ``π(a|x_c)`` by sampling ``num_samples`` responses per context (temperature 1) and parsing them.

    Returns:
        ``(freq, lo, hi)``, each ``[C, n+1]`` numpy: frequencies and Wilson ``z``-intervals.
    """
    from .generation import sample_responses

    C, n = game.num_contexts, game.n
    prompt_ids = [policy.encode_prompt(p) for p in game.prompts]
    responses = sample_responses(policy, prompt_ids, num_samples, max_new_tokens=max_new_tokens, temperature=1.0,
                                 top_p=1.0, seed=seed, model=model, path=path)
    counts = np.zeros((C, n + 1))
    for c in range(C):
        for r in responses[c]:
            counts[c, game.parse(policy.decode(r))] += 1
    lo, hi = wilson_interval(counts, num_samples, z)
    return counts / num_samples, lo, hi


def cyclic_language_game(num_actions: int = 3, num_contexts: int = 2, *, generator: str = "cyclic",
                         beta: float = 0.05, seed: int = 0, capitalised: bool = True, margin: float = 1.0):
    """A word-level game: prompts ``"<bos> ctx{c} play"`` over actions from ``rock paper scissors lizard spock …``.

    Context ``c`` uses ``make_matrix(generator, n=num_actions, seed=seed + c)`` (``cyclic`` ignores the seed: every
    context is the same generalised rock-paper-scissors). Returns ``(game, words)`` where ``words`` is the vocabulary
    for :func:`~nashlab.llm_bridge.tokenizer.word_tokenizer` (actions in lower and Capitalised case when
    ``capitalised``, so the exact distribution sums over two token paths per action).
    """
    from nashlab.games import make_matrix

    base = ["rock", "paper", "scissors", "lizard", "spock", "fire", "water", "air", "earth", "wood"]
    if not 2 <= num_actions <= len(base):
        raise ValueError(f"num_actions must be in [2, {len(base)}]; got {num_actions}")
    actions = [[w, w.capitalize()] if capitalised else [w] for w in base[:num_actions]]
    if generator == "cyclic":
        P = make_matrix("cyclic", n=num_actions, margin=margin)
    else:
        P = np.stack([make_matrix(generator, n=num_actions, seed=seed + c) for c in range(num_contexts)])
    prompts = [f"ctx{c} play" for c in range(num_contexts)]
    fillers = ["play", "the", "a", "I", "choose", "you", "hello", "yes", "no", "ok", "!", "."]
    words = [w for a in actions for w in a] + [f"ctx{c}" for c in range(num_contexts)] + fillers
    return LanguageGame(prompts, actions, P, beta), words
