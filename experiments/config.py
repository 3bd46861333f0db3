"""Sweep configuration: a TOML file validated into frozen dataclasses, and its expansion into a grid of tasks.

A sweep is ``games × solvers × η × β × seeds × feedback × schedule × init``. The file has three kinds of tables::

    [sweep]                      # defaults for every task
    iters = 1000                 # iterations per run, at most 10**7 (nashlab.solvers.solve.MAX_ITERS)
    every = 10                   # record metrics every `every` iterations (and at 0 and the last); solve raises it
                                 # to a multiple of itself that keeps a trace within 1,000 points
    seeds = [0, 1, 2]            # or an integer k, meaning [0, …, k−1]; each in [0, 2**63)
    feedback = ["exact", "sampled:16"]   # or "sampled:M,labels=soft,estimator=shared" (nashlab.solvers.feedback)
    schedule = ["constant"]      # step sizes η_t: constant | inverse-t | inverse-sqrt-t | theory (η is η_0)
    init = ["ref"]               # "ref" | "uniform" | "random" | "random:seed=S"
    beta = [0.01, 0.1]
    eta = [0.5]                  # absent: each solver's documented default
    policy = "tabular"           # or "mlp"
    solvers = "all"              # or a list of rules: each a spec string ("egpo", "path/to/rule.py:NAME") or a
                                 # table { name = "egpo", eta = [0.5] } (see "Rules as tables" below)

    [solvers.egpo]               # per-solver overrides of eta / beta / iters / every
    beta = [0.0, 0.01, 0.1]

    [solvers.mmd]
    eta = { "0.01" = [0.04], "0.1" = [0.4] }   # η per β (MMD needs η ≤ 4β)

    [[games]]                    # one table per game of the suite
    name = "rps"                 # label in tables and figures
    spec = "cyclic:n=5"          # generator spec; "{seed}" is replaced by the task's seed
                                 # or the game as a table: kind = "cyclic"  n = 5  (seed = "{seed}"), which
                                 # becomes the same spec string (nashlab.toml_config.game_table_spec)
    ref = "random:seed={seed}"   # reference policy spec
    num_players = 3              # optional: an n-player game (solvers that support it only); the older key
                                 # `players` is read as a deprecated alias (one line on stderr)
    solvers = ["mnpo"]           # optional: restrict the solvers run on this game ({ name = "mnpo" } too)
    beta = [0.1]                 # optional: override the β list for this game
    policy = "mlp"               # optional

Rules as tables. Wherever a sweep names a rule (``sweep.solvers``, ``games[i].solvers``) an entry may be the spec
string the CLI's ``--solver`` takes or a table ``{ name = "egpo", eta = [0.5], beta = [0.1], iters = 500, every = 5 }``
(:func:`nashlab.toml_config.rule_table_spec`). ``name`` is that spec string; the other keys of a ``sweep.solvers``
entry are the options a ``[solvers.<name>]`` table holds (a rule's options are given in one place: the entry or the
table, not both), and a ``games[i].solvers`` entry has ``name`` only (its options would apply to every game). The
table form and the string form plus ``[solvers.<name>]`` tables give the same :class:`SweepConfig`, hence the same
tasks, task ids and config hash (the per-rule options are kept in ``[solvers.<name>]`` tables first, in file order,
then the entries' options in list order).

Every unknown key is refused with its dotted path, the closest valid key and the list of valid keys (an unknown
solver: ``[solvers.egp]: unknown solver 'egp'; did you mean 'egpo'?``); every bad value is refused with its dotted
path, the condition and the value (:class:`ConfigError`, a ``ValueError``). Reading, unknown keys and game tables go
through the one config layer, :mod:`nashlab.toml_config`, which the LLM run config shares.

Sizes are bounded so that no config runs forever or exhausts memory by a typo: iteration counts above
``MAX_ITERS`` and grids above :data:`MAX_TASKS` tasks are refused, naming the key.

Seeds. Each task's randomness comes from its own ``seed`` parameter only (substituted into the game and reference
specs, passed to ``solve(seed=…)``), never from the order tasks run in, so a resumed sweep reproduces an uninterrupted
one number for number.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import sys

from nashlab.toml_config import (ConfigError, game_table_spec, hint_sep, parse_toml, read_toml, refuse_unknown,
                                 rule_table_spec)

#: The packaged main job (``nashlab run`` with no argument).
DEFAULT_CONFIG = "default.toml"

_INIT_RE = re.compile(r"^(ref|uniform|random|random:seed=([0-9]+|\{seed\}))$")
_POLICIES = ("tabular", "mlp")
#: Most tasks one sweep may expand to (the default sweep has ~1,500): a larger grid is a typo such as
#: ``seeds = 100000000``, which would take the expansion itself minutes and gigabytes.
MAX_TASKS = 1_000_000


@dataclass(frozen=True)
class SolverOverride:
    """Per-solver overrides (``[solvers.<name>]``); ``None`` keeps the sweep's value."""

    name: str
    eta: tuple[float, ...] | None = None
    beta: tuple[float, ...] | None = None
    iters: int | None = None
    every: int | None = None
    #: η lists per β (``eta = { "0.01" = [0.04], "0.1" = [0.4] }``), for step-size conditions that scale with β.
    eta_by_beta: tuple[tuple[float, tuple[float, ...]], ...] | None = None

    def etas(self, beta: float) -> tuple[float, ...] | None:
        for b, etas in self.eta_by_beta or ():
            if b == beta:
                return etas
        return self.eta


@dataclass(frozen=True)
class GameConfig:
    """One game of the suite (``[[games]]``)."""

    name: str
    spec: str
    ref: str = "uniform"
    num_players: int | None = None
    solvers: tuple[str, ...] | None = None
    beta: tuple[float, ...] | None = None
    policy: str | None = None


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep. ``solvers`` is the resolved list of solver names; ``overrides`` maps a name to its table."""

    games: tuple[GameConfig, ...]
    solvers: tuple[str, ...]
    iters: int = 1000
    every: int = 10
    seeds: tuple[int, ...] = (0, 1, 2)
    feedback: tuple[str, ...] = ("exact",)
    schedule: tuple[str, ...] = ("constant",)
    init: tuple[str, ...] = ("ref",)
    beta: tuple[float, ...] = (0.1,)
    eta: tuple[float, ...] | None = None
    policy: str = "tabular"
    overrides: tuple[SolverOverride, ...] = ()
    #: The file's text (stored with the results) and where it came from; not part of the config's identity.
    text: str = field(default="", compare=False, repr=False)
    source: str = field(default="", compare=False)

    def canonical(self) -> dict[str, Any]:
        """The config as plain JSON data (identity: two configs with equal ``canonical()`` run the same tasks)."""
        d = dataclasses.asdict(self)
        d.pop("text")
        d.pop("source")
        for g in d["games"]:  # identity keeps the key configs were hashed with before the rename to num_players
            g["players"] = g.pop("num_players")
        if d["schedule"] == ["constant"] or d["schedule"] == ("constant",):
            d.pop("schedule")  # the identity of a config written before schedules existed: its store still resumes
        return d

    @property
    def hash(self) -> str:
        """``sha256`` of the canonical JSON (comments and key order in the file do not change it)."""
        return hashlib.sha256(json.dumps(self.canonical(), sort_keys=True).encode()).hexdigest()

    def override(self, solver: str) -> SolverOverride:
        for o in self.overrides:
            if o.name == solver:
                return o
        return SolverOverride(solver)


@dataclass(frozen=True)
class Task:
    """One run: a game instance, a solver with its hyper-parameters, a feedback model, an init and a seed.

    ``spec``/``ref``/``init`` are resolved (``{seed}`` substituted). ``eta = None`` means the solver's default.
    ``task_id`` is a hash of all of these, so a task is recognised across reruns whatever order it runs in.
    ``schedule`` enters :meth:`params` (hence the id) only when it is not ``constant``, so the ids of constant-step
    tasks are those of stores written before schedules existed, and such a store resumes. Likewise the id hashes
    ``num_players`` under its former name ``players`` (:meth:`identity`), so stores written before the rename resume.
    """

    game: str
    spec: str
    ref: str
    num_players: int | None
    solver: str
    eta: float | None
    beta: float
    feedback: str
    init: str
    seed: int
    iters: int
    every: int
    policy: str
    schedule: str = "constant"

    def params(self) -> dict[str, Any]:
        """The task's parameters as stored with its results (``schedule`` left out when constant)."""
        d = dataclasses.asdict(self)
        if d["schedule"] == "constant":
            d.pop("schedule")
        return d

    def identity(self) -> dict[str, Any]:
        """:meth:`params` with ``num_players`` under its former name ``players``: what :attr:`task_id` hashes."""
        d = self.params()
        d["players"] = d.pop("num_players")
        return d

    @property
    def task_id(self) -> str:
        """``sha256(json(identity(), sorted keys))[:20]``."""
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:20]


# ---------------------------------------------------------------------------------------------------------- checks


def _int(value, key: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not value >= minimum:
        raise ConfigError(f"{key} must be an integer ≥ {minimum}; got {value!r}")
    return int(value)


def _iters(value, key: str) -> int:
    from nashlab.solvers.solve import MAX_ITERS

    n = _int(value, key, minimum=1)
    if n > MAX_ITERS:
        raise ConfigError(f"{key} = {n} exceeds the most iterations a run may have ({MAX_ITERS:,}); a larger count "
                          f"would not finish")
    return n


def _seed(value, key: str) -> int:
    from nashlab.games.preference import validate_seed

    try:
        return validate_seed(value, name=key)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _float_list(value, key: str, *, positive: bool) -> tuple[float, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ConfigError(f"{key} must be a non-empty list of numbers; got []")
    out = []
    for v in items:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or not (v > 0 if positive else v >= 0):
            cond = "> 0" if positive else "≥ 0"
            raise ConfigError(f"{key} must hold finite numbers {cond}; got {v!r}")
        out.append(float(v))
    if len(set(out)) != len(out):
        raise ConfigError(f"{key} has repeated values: {value!r}")
    return tuple(out)


def _beta_key(text: str, key: str) -> float:
    try:
        b = float(text)
    except ValueError:
        b = math.nan
    if not (math.isfinite(b) and b >= 0):
        raise ConfigError(f"{key} keys must be β values (finite numbers ≥ 0, quoted: \"0.01\"); got {text!r}")
    return b


def _str_list(value, key: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) and v for v in items):
        raise ConfigError(f"{key} must be a non-empty string or list of non-empty strings; got {value!r}")
    if len(set(items)) != len(items):
        raise ConfigError(f"{key} has repeated values: {value!r}")
    return tuple(items)


def _feedback(value, key: str) -> tuple[str, ...]:
    from nashlab.solvers.feedback import parse_feedback

    items = _str_list(value, key)
    for v in items:
        try:
            parse_feedback(v)
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None
    return items


def _schedule(value, key: str) -> tuple[str, ...]:
    from nashlab.solvers.schedules import SCHEDULES

    items = _str_list(value, key)
    for v in items:
        if v not in SCHEDULES:
            raise ConfigError(f"{key} entries must be one of {', '.join(SCHEDULES)}; got {v!r}")
    return items


def _init(value, key: str) -> tuple[str, ...]:
    items = _str_list(value, key)
    for v in items:
        m = _INIT_RE.match(v)
        if not m:
            raise ConfigError(f"{key} entries must be 'ref', 'uniform', 'random' or 'random:seed=S'; got {v!r}")
        if m.group(2) not in (None, "{seed}"):
            _seed(int(m.group(2)), f"{key} entry {v!r}: seed")
    return items


def _policy(value, key: str) -> str:
    if value not in _POLICIES:
        raise ConfigError(f"{key} must be one of {', '.join(_POLICIES)}; got {value!r}")
    return value


def _solver_names(value, key: str, registry: tuple[str, ...] | None, trust_rule_files: bool | None = False,
                  options: list | None = None) -> tuple[str, ...]:
    """The rules a list names: ``"all"``, or entries that are spec strings or rule tables
    (:func:`~nashlab.toml_config.rule_table_spec`). With ``options`` (a list), a table's options
    (:data:`_OVERRIDE_KEYS`) are appended to it as ``(spec, options, where)``; without, a table may hold ``name``
    only."""
    if value == "all":
        if registry is None:
            raise ConfigError(f"{key} = 'all' needs the solver registry (nashlab.solvers.SOLVERS), which is unavailable")
        return registry
    single = not isinstance(value, list)
    items = [value] if single else value
    names = []
    for i, v in enumerate(items):
        if isinstance(v, dict):
            where = key if single else f"{key}[{i}]"
            spec, opts = rule_table_spec(v, where, options=_OVERRIDE_KEYS if options is not None else ())
            if opts:
                options.append((spec, opts, where))
            names.append(spec)
            _check_solver(spec, f"{where}.name", registry, trust_rule_files)
        elif isinstance(v, str) and v:
            names.append(v)
            _check_solver(v, key, registry, trust_rule_files)
        else:
            raise ConfigError(f"{key} must be \"all\", a rule or a non-empty list of rules (each a name or a table "
                              f"with name = \"...\"); got {value!r}")
    if not names:
        raise ConfigError(f"{key} must be \"all\", a rule or a non-empty list of rules; got []")
    if len(set(names)) != len(names):
        raise ConfigError(f"{key} has repeated values: {names!r}")
    return tuple(names)


def _check_solver(name: str, key: str, registry, trust_rule_files: bool | None) -> None:
    """A registered name, an installed entry point, or ``path/to/rule.py:NAME``. A rule file is Python code: a config
    may name one, but it is imported only with ``trust_rule_files`` (``--trust-rule-files``); ``None`` accepts the
    name without importing anything (reading a stored config back, e.g. ``nashlab report``)."""
    if registry is None or name in registry:
        return
    from nashlab.solvers.registry import is_rule_file, load_rule

    if is_rule_file(name) and trust_rule_files is None:
        return
    try:
        load_rule(name, trusted=bool(trust_rule_files))
    except (ValueError, OSError) as exc:
        if str(exc).startswith("unknown solver"):
            raise ConfigError(f"{key}: unknown solver {name!r}{hint_sep(name, registry)} valid: {', '.join(registry)}, "
                              f"an installed 'nashlab.rules' entry point, or path/to/rule.py:NAME") from None
        raise ConfigError(f"{key}: {exc}") from None


def solver_registry() -> tuple[str, ...] | None:
    """Names in ``nashlab.solvers.SOLVERS`` (registry order), or ``None`` when the solvers package lacks it."""
    try:
        from nashlab.solvers import SOLVERS
    except ImportError:
        return None
    return tuple(SOLVERS)


def _override(name: str, tbl: dict, key: str) -> SolverOverride:
    """A rule's options (a ``[solvers.<name>]`` table, or a rule table's keys besides ``name``), checked."""
    eta, eta_by_beta = None, None
    if isinstance(tbl.get("eta"), dict):
        eta_by_beta = tuple(sorted(
            (_beta_key(b, f"{key}.eta"), _float_list(v, f"{key}.eta.{b}", positive=True))
            for b, v in tbl["eta"].items()
        ))
    elif "eta" in tbl:
        eta = _float_list(tbl["eta"], f"{key}.eta", positive=True)
    return SolverOverride(
        name, eta=eta, eta_by_beta=eta_by_beta,
        beta=_float_list(tbl["beta"], f"{key}.beta", positive=False) if "beta" in tbl else None,
        iters=_iters(tbl["iters"], f"{key}.iters") if "iters" in tbl else None,
        every=_int(tbl["every"], f"{key}.every", minimum=1) if "every" in tbl else None,
    )


# ------------------------------------------------------------------------------------------------------------ load

_SWEEP_KEYS = ("iters", "every", "seeds", "feedback", "schedule", "init", "beta", "eta", "policy", "solvers")
_TOP_KEYS = ("sweep", "solvers", "games")
_GAME_KEYS = ("name", "spec", "ref", "num_players", "players", "solvers", "beta", "policy")
_OVERRIDE_KEYS = ("eta", "beta", "iters", "every")


def parse_config(text: str, source: str = "<string>", *, registry: tuple[str, ...] | None = None,
                 check_games: bool = True, check_hparams: bool = True,
                 trust_rule_files: bool | None = False, warn_deprecated: bool = True) -> SweepConfig:
    """Validate TOML text into a :class:`SweepConfig`.

    Args:
        text: the TOML document.
        source: where it came from (for messages).
        registry: solver names to validate against; ``None`` reads :data:`nashlab.solvers.SOLVERS`.
        check_games: build every game once (first seed) so a bad spec is refused at load, naming its key.
        check_hparams: call ``make_solver`` on every (solver, η, β) so a bad hyper-parameter is refused at load.
        trust_rule_files: import a rule file the config names (``path/to/rule.py:NAME``: Python code); ``False``
            refuses it in one line, ``None`` accepts the name without importing it.
        warn_deprecated: write one line on stderr when the config uses a deprecated key (``players``); off where a
            stored config is read back.

    Raises:
        ConfigError: naming the offending key (dotted path) and the valid keys or the condition violated.
    """
    data = parse_toml(text, source)
    if registry is None:
        registry = solver_registry()
    refuse_unknown(data, _TOP_KEYS, "")
    sweep = data.get("sweep", {})
    if not isinstance(sweep, dict):
        raise ConfigError("sweep must be a table ([sweep])")
    refuse_unknown(sweep, _SWEEP_KEYS, "sweep")

    kw: dict[str, Any] = {}
    if "iters" in sweep:
        kw["iters"] = _iters(sweep["iters"], "sweep.iters")
    if "every" in sweep:
        kw["every"] = _int(sweep["every"], "sweep.every", minimum=1)
    if "seeds" in sweep:
        s = sweep["seeds"]
        if isinstance(s, int) and not isinstance(s, bool):
            count = _int(s, "sweep.seeds", minimum=1)
            if count > MAX_TASKS:
                raise ConfigError(f"sweep.seeds = {count} seeds exceeds the most tasks a sweep may have ({MAX_TASKS})")
            kw["seeds"] = tuple(range(count))
        else:
            if not isinstance(s, list) or not s:
                raise ConfigError(f"sweep.seeds must be an integer ≥ 1 or a non-empty list of integers in "
                                  f"[0, 2**63); got {s!r}")
            kw["seeds"] = tuple(_seed(v, "sweep.seeds entries") for v in s)
            if len(set(kw["seeds"])) != len(kw["seeds"]):
                raise ConfigError(f"sweep.seeds has repeated values: {s!r}")
    if "feedback" in sweep:
        kw["feedback"] = _feedback(sweep["feedback"], "sweep.feedback")
    if "schedule" in sweep:
        kw["schedule"] = _schedule(sweep["schedule"], "sweep.schedule")
    if "init" in sweep:
        kw["init"] = _init(sweep["init"], "sweep.init")
    if "beta" in sweep:
        kw["beta"] = _float_list(sweep["beta"], "sweep.beta", positive=False)
    if "eta" in sweep:
        kw["eta"] = _float_list(sweep["eta"], "sweep.eta", positive=True)
    if "policy" in sweep:
        kw["policy"] = _policy(sweep["policy"], "sweep.policy")
    inline: list[tuple[str, dict, str]] = []
    solvers = _solver_names(sweep.get("solvers", "all"), "sweep.solvers", registry, trust_rule_files, inline)

    over_tbl = data.get("solvers", {})
    if not isinstance(over_tbl, dict):
        raise ConfigError("solvers must be a table of per-solver tables ([solvers.<name>])")
    overrides = []
    for name, tbl in over_tbl.items():
        key = f"solvers.{name}"
        _check_solver(name, f"[{key}]", registry, trust_rule_files)
        if not isinstance(tbl, dict):
            raise ConfigError(f"{key} must be a table; got {tbl!r}")
        refuse_unknown(tbl, _OVERRIDE_KEYS, key)
        overrides.append(_override(name, tbl, key))
    for name, opts, where in inline:
        if name in over_tbl:
            raise ConfigError(f"{where}: the options of {name!r} are given twice, here and in [solvers.{name}]; "
                              f"keep one")
        overrides.append(_override(name, opts, where))

    games_tbl = data.get("games")
    if not isinstance(games_tbl, list) or not games_tbl:
        raise ConfigError("games must be a non-empty array of tables ([[games]] with at least name and spec)")
    games: list[GameConfig] = []
    deprecated: list[str] = []
    for i, g in enumerate(games_tbl):
        key = f"games[{i}]"
        if not isinstance(g, dict):
            raise ConfigError(f"{key} must be a table ([[games]] with at least name and spec); got {g!r}")
        if "kind" in g:  # the game as a table: its other keys are the kind's parameters
            if "spec" in g:
                raise ConfigError(f"{key} has both spec and kind; a game is either spec = \"...\" or a table with "
                                  f"kind = \"...\" and its parameters")
            g = dict(g, spec=game_table_spec(g, key, reserved=_GAME_KEYS))
            g = {k: v for k, v in g.items() if k in _GAME_KEYS}
        refuse_unknown(g, _GAME_KEYS + ("kind",), key)
        for req in ("name", "spec"):
            if req not in g:
                raise ConfigError(f"{key}.{req} is required (a game needs a name and a generator spec, or a kind)")
        name = g["name"]
        if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9_.+-]+$", name):
            raise ConfigError(f"{key}.name must be a non-empty string of letters, digits, _ . + -; got {name!r}")
        if any(name == other.name for other in games):
            raise ConfigError(f"{key}.name {name!r} is used by two games")
        for k in ("spec", "ref"):
            if k in g and not (isinstance(g[k], str) and g[k]):
                raise ConfigError(f"{key}.{k} must be a non-empty string; got {g[k]!r}")
        if "players" in g and "num_players" in g:
            raise ConfigError(f"{key} has both num_players and players (its deprecated alias); keep num_players")
        if "players" in g:
            deprecated.append(f"{key}.players")
        players_key = "players" if "players" in g else "num_players"
        players = _int(g[players_key], f"{key}.{players_key}", minimum=2) if players_key in g else None
        games.append(GameConfig(
            name=name, spec=g["spec"], ref=g.get("ref", "uniform"), num_players=players,
            solvers=_solver_names(g["solvers"], f"{key}.solvers", registry, trust_rule_files) if "solvers" in g
            else None,
            beta=_float_list(g["beta"], f"{key}.beta", positive=False) if "beta" in g else None,
            policy=_policy(g["policy"], f"{key}.policy") if "policy" in g else None,
        ))

    if deprecated and warn_deprecated:
        print(f"nashlab: {source}: {', '.join(deprecated)}: 'players' is deprecated, write 'num_players'",
              file=sys.stderr)
    cfg = SweepConfig(games=tuple(games), solvers=solvers, overrides=tuple(overrides), text=text, source=source, **kw)
    if cfg.every > cfg.iters:
        raise ConfigError(f"sweep.every = {cfg.every} exceeds sweep.iters = {cfg.iters}")
    for o in cfg.overrides:
        every = o.every or cfg.every
        iters = o.iters or cfg.iters
        if every > iters:
            raise ConfigError(f"solvers.{o.name}: every = {every} exceeds iters = {iters}")
    size = grid_size(cfg)
    if size > MAX_TASKS:
        raise ConfigError(f"the config expands to {size:,} tasks, more than a sweep may have ({MAX_TASKS:,}); "
                          f"check sweep.seeds and the lists of games, solvers, eta, beta, feedback and init")
    if check_games:
        _check_games(cfg)
    if check_hparams:
        _check_hparams(cfg)
    if not expand(cfg):
        raise ConfigError("the config expands to no task (check games.solvers, games.num_players and the β lists)")
    return cfg


def _check_games(cfg: SweepConfig) -> None:
    from .tasks import build_game

    for i, g in enumerate(cfg.games):
        try:
            build_game(_sub(g.spec, cfg.seeds[0]), _sub(g.ref, cfg.seeds[0]), g.num_players, beta=0.0)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"games[{i}] ({g.name!r}): {exc}") from None


def _check_hparams(cfg: SweepConfig) -> None:
    try:
        from nashlab.solvers import make_solver
    except ImportError:
        return
    seen = set()
    for t in expand(cfg):
        k = (t.solver, t.eta, t.beta, t.num_players)
        if k in seen:
            continue
        seen.add(k)
        where = f"solvers.{t.solver}" if cfg.override(t.solver) != SolverOverride(t.solver) else "sweep"
        kwargs = {"num_players": t.num_players} if t.num_players else {}
        try:
            make_solver(t.solver, eta=t.eta, beta=t.beta, **kwargs)
        except ValueError as exc:
            raise ConfigError(f"{where} (solver {t.solver!r}, eta={t.eta}, beta={t.beta}): {exc}") from None


def load_config(path: str | Path | None = None, **kwargs) -> SweepConfig:
    """Read and validate a config file; ``None`` loads the packaged main job (``experiments/configs/default.toml``).

    Works from an editable checkout and from a non-editable install (the TOML files are package data).
    """
    if path is None:
        res = resources.files("nashlab.experiments").joinpath("configs", DEFAULT_CONFIG)
        return parse_config(res.read_text(encoding="utf-8"), source=f"<packaged {DEFAULT_CONFIG}>", **kwargs)
    p = Path(path)
    _, text = read_toml(p, what="sweep config")
    try:
        return parse_config(text, source=str(p), **kwargs)
    except ConfigError as exc:
        if str(exc).startswith(f"{p}:"):
            raise
        raise ConfigError(f"{p}: {exc}") from None


def config_stem(path: str | Path | None) -> str:
    """``runs/<stem>`` is the default output directory."""
    return Path(DEFAULT_CONFIG if path is None else path).stem


# ---------------------------------------------------------------------------------------------------------- expand


def _sub(s: str, seed: int) -> str:
    return s.replace("{seed}", str(seed))


def _resolve_init(init: str, seed: int) -> str:
    return f"random:seed={seed}" if init == "random" else _sub(init, seed)


def _betas(cfg: SweepConfig, g: GameConfig, o: SolverOverride) -> tuple[float, ...]:
    if o.beta is not None and g.beta is not None:
        return tuple(b for b in o.beta if b in g.beta)  # both restrict: the intersection
    return o.beta if o.beta is not None else g.beta if g.beta is not None else cfg.beta


def grid_size(cfg: SweepConfig) -> int:
    """``len(expand(cfg))``, counted without building the tasks (so an oversized grid is refused cheaply)."""
    n = 0
    for g in cfg.games:
        for s in (g.solvers if g.solvers is not None else cfg.solvers):
            o = cfg.override(s)
            for beta in _betas(cfg, g, o):
                n += (len(o.etas(beta) or cfg.eta or (None,)) * len(cfg.feedback) * len(cfg.schedule) * len(cfg.init)
                      * len(cfg.seeds))
    return n


def expand(cfg: SweepConfig) -> list[Task]:
    """The grid, in a fixed order: games × solvers × η × β × feedback × schedule × init × seeds.

    The β list of a (game, solver) pair is the solver's override, else the game's, else the sweep's (both given: their
    intersection); η is the solver's override (its list for this β when given per β), else the sweep's, else the
    solver's default ``None``. A game with ``num_players`` runs only the solvers
    listed in its ``solvers`` (n-player games need solvers that take ``num_players``).
    """
    tasks = []
    for g in cfg.games:
        names = g.solvers if g.solvers is not None else cfg.solvers
        for s in names:
            o = cfg.override(s)
            iters = o.iters or cfg.iters
            every = o.every or cfg.every
            for beta in _betas(cfg, g, o):
                for eta in o.etas(beta) or cfg.eta or (None,):
                    for fb in cfg.feedback:
                        for schedule in cfg.schedule:
                            for init in cfg.init:
                                for seed in cfg.seeds:
                                    tasks.append(Task(
                                        game=g.name, spec=_sub(g.spec, seed), ref=_sub(g.ref, seed),
                                        num_players=g.num_players, solver=s, eta=eta, beta=beta, feedback=fb,
                                        init=_resolve_init(init, seed), seed=seed, iters=iters, every=every,
                                        policy=g.policy or cfg.policy, schedule=schedule,
                                    ))
    return tasks
