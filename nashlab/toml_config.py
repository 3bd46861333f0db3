"""The one config layer: TOML text → checked values and frozen, typed dataclasses, for sweeps and LLM runs alike.

Both config readers use it: :mod:`nashlab.experiments.config` (``nashlab run``: ``[sweep]``, ``[solvers.<name>]``,
``[[games]]``) and :mod:`nashlab.llm_bridge.config` (``nashlab llm train``: ``[model]``, ``[game]``, ``[judge]``,
``[train]``, ``[solvers.<name>]``). What it provides, each once:

* :func:`read_toml` — a file (or text) to a dict; a missing file, a folder, non-UTF-8 bytes or bad TOML is one line.
* :func:`did_you_mean` / :func:`refuse_unknown` — an unknown key is refused with its dotted path and the closest valid
  name (:func:`difflib.get_close_matches`, ratio ≥ :data:`CUTOFF`)::

      default.toml: unknown key 'sweep.iter'; did you mean 'iters'? valid keys in sweep: iters, every, ...

* :func:`check_type` / :func:`load_dataclass` — a table becomes a frozen dataclass: its keys are the dataclass's
  fields (unknown ones refused as above), each value is checked against the field's annotation (``int``, ``float``,
  ``bool``, ``str``, ``tuple``, ``dict`` and unions of them; a wrong type names the key, the expected type and the
  value: ``[train] iterations must be an integer; got '30'``), then the dataclass's own ``__post_init__`` checks run,
  their message prefixed with the table.
* :func:`check_rule_key` — which keys a ``[solvers.<name>]`` table may have (see its docstring).
* :func:`rule_table_spec` — a rule written as a table (``{ name = "egpo", eta = [0.5] }``) becomes the spec string the
  CLI's ``--solver`` takes (``"egpo"``) and its options, so a sweep names a rule either way with the same tasks.
* :func:`game_table_spec` — a game given as a TOML table (``kind = "egpo"``, ``n = 10``, ``seed = 3``) becomes the spec
  string ``egpo:n=10,seed=3`` and is validated by :mod:`nashlab.games.spec`, the grammar the CLI's ``--game`` uses:
  there is one game grammar, parsed in one place, whichever way a game is written.

Every error is a :class:`ConfigError` (a ``ValueError``), one line, which the CLI prints and exits 2 with.

It lives in the root package (beside :mod:`nashlab.extras`), not in ``experiments``: imports go one way,
``games ← solvers ← llm_bridge ← experiments`` (docs/design.md §1), and ``llm_bridge`` may not import ``experiments``.
It imports nothing of nashlab at module level; the game-table and rule-name helpers import ``games.spec`` and
``solvers.registry`` when called, which both of its users sit above.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import math
import tomllib
from pathlib import Path
from typing import Any, Iterable

#: ``difflib`` similarity ``2·M/(|a| + |b|)`` (M = matched characters) at or above which a name is suggested.
#: ``egp``/``egpo`` is 0.86, ``iter``/``iters`` 0.89; ``optimistic-inpo``/``inpo`` is 0.42 (not a typo of it).
CUTOFF = 0.6


class ConfigError(ValueError):
    """A config refused at load time; the message names the offending key."""


# ------------------------------------------------------------------------------------------------------------- read


def read_toml(path: str | Path, *, what: str = "config") -> tuple[dict, str]:
    """``(data, text)`` of a TOML file.

    Raises:
        FileNotFoundError: no such path (``config file not found: PATH``).
        IsADirectoryError: a folder.
        ConfigError: not UTF-8, or not valid TOML (the message starts with the path).
    """
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"{what} path is a directory, not a TOML file: {p}")
    if not p.is_file():
        raise FileNotFoundError(f"{what} file not found: {p}")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not a UTF-8 text file (byte {exc.object[exc.start]:#04x} at offset {exc.start} is "
                          f"not UTF-8); a {what} is TOML, which is UTF-8") from None
    return parse_toml(text, str(p)), text


def parse_toml(text: str, source: str = "<string>") -> dict:
    """``tomllib.loads`` with a one-line :class:`ConfigError` naming ``source``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None


# ----------------------------------------------------------------------------------------------------- unknown keys


def did_you_mean(name: str, valid: Iterable[str]) -> str | None:
    """The valid name closest to ``name`` (similarity ≥ :data:`CUTOFF`), or ``None``.

    >>> did_you_mean("egp", ["egpo", "inpo", "mwu"])
    'egpo'
    >>> did_you_mean("optimistic-inpo", ["egpo", "inpo", "mwu"]) is None
    True
    """
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=CUTOFF)
    return close[0] if close else None


def hint(name: str, valid: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` or ``""``."""
    close = did_you_mean(name, valid)
    return f"; did you mean {close!r}?" if close else ""


def hint_sep(name: str, valid: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` or ``";"`` (the separator before a list of valid names)."""
    return hint(name, valid) or ";"


def refuse_unknown(table: dict, valid: Iterable[str], where: str) -> None:
    """Refuse the first key of ``table`` not in ``valid``, with its dotted path, the closest valid key and the list:
    ``unknown key 'sweep.iter'; did you mean 'iters'? valid keys in sweep: iters, every, ...``."""
    valid = tuple(valid)
    for key in table:
        if key not in valid:
            path = f"{where}.{key}" if where else key
            raise ConfigError(f"unknown key {path!r}{hint_sep(key, valid)} valid keys{' in ' + where if where else ''}: "
                              f"{', '.join(valid)}")


# ---------------------------------------------------------------------------------------------------------- types

_EXPECTED = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
             "tuple": "a list", "list": "a list", "dict": "a table"}


def _fits(value: Any, kind: str) -> bool:
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind in ("tuple", "list"):
        return isinstance(value, (list, tuple))
    if kind == "dict":
        return isinstance(value, dict)
    return False


def check_type(value: Any, annotation: str, key: str) -> Any:
    """Check ``value`` against a field annotation written as text (``"int | None"``, ``"tuple[float, ...]"``,
    ``"bool | str"``); ``None`` parts are skipped (TOML has no null), an annotation with a part this layer does not
    know (a class) is not checked here. Returns the value (a list becomes a tuple for ``tuple`` fields).

    Raises:
        ConfigError: ``{key} must be an integer; got '30'`` (the expected types joined by "or").

    >>> check_type(3, "int | None", "[train] iterations")
    3
    >>> try:
    ...     check_type("3", "int", "[train] iterations")
    ... except ConfigError as exc:
    ...     print(exc)
    [train] iterations must be an integer; got '3'
    """
    parts = [p.strip().split("[", 1)[0] for p in str(annotation).split("|")]
    parts = [p for p in parts if p != "None"]
    if not parts or any(p not in _EXPECTED for p in parts):
        return value
    if not any(_fits(value, p) for p in parts):
        want = " or ".join(dict.fromkeys(_EXPECTED[p] for p in parts))
        raise ConfigError(f"{key} must be {want}; got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key} must be finite; got {value!r}")
    if "tuple" in parts and isinstance(value, list):
        return tuple(value)
    return value


def check_table(cls, table: dict, where: str) -> dict:
    """The keys of a TOML table checked against the fields of dataclass ``cls`` (an unknown one refused with the
    closest field), lists converted to tuples for ``tuple`` fields. Types are checked by :func:`load_dataclass`."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table; got {table!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        if key not in fields:
            raise ConfigError(f"{where}: unknown key {key!r}{hint_sep(key, fields)} valid: {', '.join(sorted(fields))}")
    return {k: tuple(v) if isinstance(v, list) and "tuple" in str(fields[k].type) else v for k, v in table.items()}


def load_dataclass(cls, values: dict, where: str, *, checked: Iterable[str] | None = None):
    """``cls(**values)``, a frozen dataclass from table values (see :func:`check_table`), whose own checks'
    messages (``__post_init__``, the most specific) are prefixed by ``where``: ``[solvers.egpo] eta must be ...``.
    Every value it accepts is then also checked against its field's annotation (:func:`check_type`), so a field
    without a check of its own still refuses a wrong type, naming the key, the expected type and the value; so is
    every value when the class fails with a ``TypeError`` (a comparison of a string with a number).

    ``checked``: the keys to type-check (default all of ``values``; CLI overrides are already typed)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    keys = [k for k in (values if checked is None else checked) if k in values]

    def types():
        for k in keys:
            check_type(values[k], fields[k].type, f"{where} {k}")

    try:
        obj = cls(**values)
    except ConfigError:
        raise
    except TypeError as exc:
        types()
        raise ConfigError(f"{where} {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{where} {exc}") from None
    types()
    return obj


# ------------------------------------------------------------------------------------------------- per-rule tables


def declared_rule_name(spec: str) -> str | None:
    """The ``name=`` a rule file declares for ``path/to/rule.py:NAME``, read from its syntax tree — the file is
    parsed, never imported or run — or ``None`` when it is not a literal ``NAME = Rule(name="...", ...)``."""
    path, _, attr = spec.rpartition(":")
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attr for t in node.targets):
            if isinstance(node.value, ast.Call):
                for kw in node.value.keywords:
                    if kw.arg == "name" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                        return kw.value.value
    return None


def rule_names_in(specs: Iterable[Any]) -> set[str]:
    """The names rules named by ``specs`` go by: each spec itself, and a rule file's declared name."""
    from nashlab.solvers.registry import is_rule_file

    out = set()
    for s in specs:
        if isinstance(s, str):
            out.add(s)
            if is_rule_file(s):
                name = declared_rule_name(s)
                if name:
                    out.add(name)
    return out


def check_rule_key(name: str, registry: Iterable[str], declared: Iterable[str], where: str) -> None:
    """Whether ``name`` may key a per-rule table (``[solvers.<name>]``) of an LLM config.

    The rule: a key is accepted when it is

    1. a registered rule name (``nashlab solvers``), or
    2. the name of a rule named somewhere in the same config (a ``[train] solver`` string, or the declared
       ``name=`` of a rule file it names, e.g. ``optimistic-inpo`` for
       ``experiments/examples/rules/optimistic_inpo.py:OPTIMISTIC_INPO``), or
    3. not within a did-you-mean distance (:data:`CUTOFF`) of any name of 1. or 2.

    So a typo of a built-in (``[solvers.egp]``) is refused with ``unknown solver 'egp'; did you mean 'egpo'?``, while
    a user rule's table (``[solvers.optimistic-inpo]``, applied when ``--solver`` names that rule) passes: which user
    rules exist is known only when one is loaded, and loading a rule file from a config needs
    ``--trust-rule-files``.
    """
    registry, declared = tuple(registry), set(declared)
    if name in registry or name in declared:
        return
    close = did_you_mean(name, registry + tuple(sorted(declared)))
    if close:
        raise ConfigError(f"{where}: unknown solver {name!r}; did you mean {close!r}?")


#: Keys a rule table always has or may have, besides its options: ``name`` (the spec string the CLI's ``--solver``
#: takes: a registered name, an installed entry point, or ``path/to/rule.py:NAME``).
RULE_TABLE_KEYS = ("name",)


def rule_table_spec(table: Any, where: str, *, options: Iterable[str] = ()) -> tuple[str, dict]:
    """A rule written as a table — ``{ name = "egpo", eta = [0.5] }`` — as ``(spec, options)``: ``spec`` is the
    string the same rule is named by elsewhere (``"egpo"``, ``"path/to/rule.py:NAME"``), so a table and a string
    name one rule, parsed by one grammar (:func:`nashlab.solvers.registry.load_rule`, which the caller applies);
    ``options`` are the table's other keys, each one of ``options`` (their values are the caller's to check).

    Raises:
        ConfigError: not a table, ``name`` missing or not a non-empty string, or an unknown key (closest valid one
            suggested), naming the dotted path.

    >>> rule_table_spec({"name": "egpo", "eta": [0.5]}, "sweep.solvers[0]", options=("eta", "beta"))
    ('egpo', {'eta': [0.5]})
    >>> try:
    ...     rule_table_spec({"name": "egpo", "etta": [0.5]}, "sweep.solvers[0]", options=("eta", "beta"))
    ... except ConfigError as exc:
    ...     print(exc)
    unknown key 'sweep.solvers[0].etta'; did you mean 'eta'? valid keys in sweep.solvers[0]: name, eta, beta
    """
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a rule name or a table with name = \"...\"; got {table!r}")
    options = tuple(options)
    refuse_unknown(table, RULE_TABLE_KEYS + options, where)
    name = table.get("name")
    if not (isinstance(name, str) and name.strip()):
        raise ConfigError(f"{where}.name must be a non-empty string (a rule name, an installed entry point or "
                          f"path/to/rule.py:NAME); got {name!r}")
    return name, {k: v for k, v in table.items() if k != "name"}


# ---------------------------------------------------------------------------------------------------- game tables

#: What ``kind`` may be in a game table (the other spec forms name files and data: they stay spec strings).
GAME_TABLE_KINDS_HELP = "a generator (nashlab games lists them) or 'contextual'"


def game_kinds() -> dict[str, dict[str, object]]:
    """Game kinds a TOML table can name, with their parameters and defaults (the spec grammar's own registry)."""
    from nashlab.games.generators import GENERATORS, generator_params
    from nashlab.games.spec import contextual_params

    kinds = {name: generator_params(name) for name in GENERATORS}
    kinds["contextual"] = contextual_params()
    return kinds


def _spec_value(value: Any, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if value == "{seed}":
        return value
    raise ConfigError(f"{key} must be a number, true/false or \"{{seed}}\"; got {value!r}")


def game_table_spec(table: dict, where: str, *, reserved: Iterable[str] = ()) -> str:
    """The spec string of a game written as a table: ``kind = "egpo"``, ``n = 10``, ``seed = 3`` →
    ``"egpo:n=10,seed=3"`` (keys in the table's order; ``"{seed}"`` stays for the sweep to substitute).

    The string is then checked by :mod:`nashlab.games.spec` (its ``k=v`` parser, the types of the parameters'
    defaults, seed range and size bounds), without building the game. ``reserved`` keys (a sweep game's ``name``,
    ``ref``, ...) are not parameters.

    Raises:
        ConfigError: an unknown kind or parameter (closest valid name suggested), or a bad value, naming the key.
    """
    from nashlab.games.spec import resolve_params

    kinds = game_kinds()
    kind = table.get("kind")
    if not isinstance(kind, str):
        raise ConfigError(f"{where}.kind must be a string ({GAME_TABLE_KINDS_HELP}); got {kind!r}")
    if kind not in kinds:
        raise ConfigError(f"{where}.kind: unknown game {kind!r}{hint(kind, kinds)}; use {GAME_TABLE_KINDS_HELP}, "
                          f"or spec = \"...\" for files, data and OpenSpiel games")
    valid = kinds[kind]
    reserved = set(reserved) | {"kind"}
    params = {k: v for k, v in table.items() if k not in reserved}
    for key in params:
        if key not in valid:
            raise ConfigError(f"unknown key '{where}.{key}' (a parameter of {kind!r}){hint_sep(key, valid)} valid: "
                              f"{', '.join(valid)}")
    text = ",".join(f"{k}={_spec_value(v, f'{where}.{k}')}" for k, v in params.items())
    try:
        resolve_params(kind, valid, text.replace("{seed}", "0"))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return kind + (":" + text if text else "")

