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



# ------------------------------------------------------------------------------------------------ typed tables
#
# A dataclass declares each key once: its type (the annotation: int, float, bool, str, Literal[...], a union with
# None, tuple[X, ...], dict) and, in the field's metadata (:func:`option`), its range, the kind it applies to and a
# deprecated old name. :func:`check_fields` (called by the dataclass's ``__post_init__``) checks and completes an
# instance from those declarations, so a value built in code is checked as one read from TOML; :func:`load_table`
# reads a TOML table into the dataclass (unknown keys, deprecated names, nested tables).


def option(default: Any = None, *, default_factory: Any = dataclasses.MISSING, lo: float | None = None,
           hi: float | None = None, above: float | None = None, nonempty: bool = False,
           only: tuple[str, Any] | None = None, alias: str | None = None, check: bool = True,
           missing: str | None = None, must: str | None = None, shown_default: str | None = None):
    """A dataclass field with its checks declared once, in its metadata.

    Args:
        default: the value when the key is not given. With ``only``, it may be a dict from the discriminator's value
            to the default for that kind (``{"tiny": False, "smollm2": True}``); the field itself then defaults to
            ``None`` ("not given") and :func:`check_fields` fills in the kind's default.
        lo, hi: inclusive bounds of a number (``hi`` also caps an integer: a typo such as 1e12 layers is refused).
        above: exclusive lower bound of a number (``lr > 0``).
        nonempty: a string (or each string of a list) must not be empty.
        only: ``(discriminator, values)``: the key applies only when field ``discriminator`` is one of ``values``
            (``("source", ("tiny",))``); given for another kind it is refused:
            ``hidden does not apply to source = 'path'``.
        alias: a deprecated name of the key, still read (:func:`load_table`).
        check: ``False``: the field is checked by its class's own code only.
        missing: for a required field (``default_factory`` and ``default`` unset is spelled ``missing="why"``), the
            help shown when its table is absent.
        must, shown_default: what :func:`key_table` documents where the class checks more than the annotation says
            (``device``: ``'auto', 'cpu', 'cuda' or 'cuda:N'``) or completes a default by hand.
    """
    meta = {"lo": lo, "hi": hi, "above": above, "nonempty": nonempty, "only": None, "alias": alias, "check": check,
            "missing": missing, "must": must, "shown_default": shown_default}
    if only is not None:
        disc, values = only
        if isinstance(default, dict):
            meta["kind_default"] = dict(default)
            values = tuple(default) if values is None else values
        elif default is not None:
            meta["kind_default"] = {v: default for v in (values if isinstance(values, tuple) else (values,))}
        meta["only"] = (disc, values if isinstance(values, tuple) else (values,))
        default = None
    if missing is not None:
        return dataclasses.field(metadata=meta)
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _meta(f: dataclasses.Field) -> dict:
    return f.metadata if "check" in f.metadata else {"check": True, "only": None, "alias": None}


_HINTS: dict = {}


def type_hints(cls) -> dict:
    """The resolved annotations of dataclass ``cls`` (cached)."""
    import typing

    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _num_cond(meta: dict) -> str:
    lo, hi, above = meta.get("lo"), meta.get("hi"), meta.get("above")
    cond = f" > {above:g}" if above is not None else f" ≥ {lo:g}" if lo is not None else ""
    return cond + (f" and ≤ {hi:g}" if hi is not None else "")


def describe(tp, meta: dict | None = None) -> str:
    """What a value of type ``tp`` (with ``meta``'s bounds) must be, in words: ``an integer from 1 to 1024``.

    >>> from typing import Literal
    >>> describe(int, {"lo": 1, "hi": 8}), describe(float | None, {"above": 0}), describe(Literal["a", "b", "c"])
    ('an integer from 1 to 8', 'a finite number > 0', "'a', 'b' or 'c'")
    """
    import types
    import typing

    meta = meta or {}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        parts = [a for a in args if a is not type(None)]
        lits = [x for a in parts if typing.get_origin(a) is typing.Literal for x in typing.get_args(a)]
        words = [describe(a, meta) for a in parts if typing.get_origin(a) is not typing.Literal]
        if lits:
            words.append(describe(typing.Literal[tuple(lits)]))
        return " or ".join(words)
    if origin is typing.Literal:
        shown = [("true" if v else "false") if isinstance(v, bool) else repr(v) for v in args]
        return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
    if tp is bool:
        return "true or false"
    if tp is int:
        lo, hi = meta.get("lo"), meta.get("hi")
        if lo is not None and hi is not None:
            return f"an integer from {lo} to {hi}"
        return "an integer" + (f" ≥ {lo}" if lo is not None else "")
    if tp is float:
        return "a finite number" + _num_cond(meta)
    if tp is str:
        return "a non-empty string" if meta.get("nonempty") else "a string"
    if origin in (tuple, list) or tp in (tuple, list):
        plurals = {"a string": "strings", "a non-empty string": "non-empty strings", "a finite number": "numbers",
                   "an integer": "integers"}
        inner = [plurals.get(describe(a, {"nonempty": meta.get("nonempty")})) for a in args if a is not Ellipsis]
        if args and args[-1] is Ellipsis:
            return f"a list of {inner[0]}" if inner[0] else f"a list (each {describe(args[0])})"
        if args:
            return f"a list of {len(args)} {inner[0]}" if len(set(inner)) == 1 and inner[0] else \
                f"a list of {len(args)} values"
        return "a list"
    if origin is dict or tp is dict:
        return "a table"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return getattr(tp, "__name__", str(tp))


def check_value(value: Any, tp, key: str, meta: dict | None = None) -> Any:
    """``value`` checked against type ``tp`` and ``meta``'s bounds; returns it converted (an integer for a ``float``
    becomes a float, a list for a ``tuple`` a tuple, recursively).

    Raises:
        ConfigError: ``{key} must be {describe(tp, meta)}; got {value!r}``.

    >>> check_value(2, float, "[game] margin")
    2.0
    >>> try:
    ...     check_value(0, int, "[model] hidden", {"lo": 1, "hi": 65536})
    ... except ConfigError as exc:
    ...     print(exc)
    [model] hidden must be an integer from 1 to 65536; got 0
    """
    ok, out = _convert(value, tp, meta or {})
    if not ok:
        raise ConfigError(f"{key} must be {describe(tp, meta)}; got {value!r}")
    return out


def _convert(value: Any, tp, meta: dict) -> tuple[bool, Any]:
    import types
    import typing

    if tp is Any or tp is object:
        return True, value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return True, None
        for a in args:
            if a is type(None):
                continue
            ok, out = _convert(value, a, meta)
            if ok:
                return True, out
        return False, value
    if origin is typing.Literal:
        return any(value == v and type(value) is type(v) for v in args), value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        if not (isinstance(value, int) and not isinstance(value, bool)):
            return False, value
        lo, hi = meta.get("lo"), meta.get("hi")
        return (lo is None or value >= lo) and (hi is None or value <= hi), value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False, value
        lo, hi, above = meta.get("lo"), meta.get("hi"), meta.get("above")
        ok = (lo is None or value >= lo) and (hi is None or value <= hi) and (above is None or value > above)
        return ok, float(value)
    if tp is str:
        return isinstance(value, str) and not (meta.get("nonempty") and not value), value
    if origin in (tuple, list) or tp in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False, value
        if not args:
            return True, tuple(value) if (origin or tp) is tuple else list(value)
        if args[-1] is Ellipsis:
            kinds = [args[0]] * len(value)
        elif len(args) != len(value):
            return False, value
        else:
            kinds = list(args)
        items = []
        for item, kind in zip(value, kinds):
            ok, conv = _convert(item, kind, {"nonempty": meta.get("nonempty")})
            if not ok:
                return False, value
            items.append(conv)
        return True, tuple(items) if (origin or tp) is tuple else items
    if origin is dict or tp is dict:
        return isinstance(value, dict), value
    if isinstance(tp, type):
        return isinstance(value, tp), value
    return True, value


def check_fields(obj) -> None:
    """Check and complete a dataclass instance from its fields' declarations (annotation and :func:`option`); call it
    first in ``__post_init__``. Fields that others depend on (an ``only`` discriminator) are checked first; then each
    field in order: its kind's default is filled in where it applies and was not given, a value given for a kind it
    does not apply to is refused, and every other value is checked and converted by :func:`check_value`.

    Raises:
        ConfigError: one line naming the field (without the table: :func:`load_table` adds it).
    """
    cls = type(obj)
    hints = type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if _meta(f)["check"]]
    discs = {_meta(f)["only"][0] for f in fields if _meta(f)["only"]}
    for f in sorted(fields, key=lambda f: f.name not in discs):
        meta = _meta(f)
        value = getattr(obj, f.name)
        if meta["only"]:
            disc, values = meta["only"]
            kind = getattr(obj, disc)
            if kind not in values:
                if value is not None:
                    raise ConfigError(f"{f.name} does not apply to {disc} = {kind!r}")
                continue
            if value is None and kind in meta.get("kind_default", {}):
                value = meta["kind_default"][kind]
        if value is None:
            object.__setattr__(obj, f.name, None)
            continue
        object.__setattr__(obj, f.name, check_value(value, hints[f.name], f.name, meta))


def deprecation_lines(notes: Iterable[tuple[str, str, str]], source: str = "") -> list[str]:
    """One ``warning:`` line per deprecated name from the ``(where, old, new)`` notes of :func:`normalize_table`,
    naming every table it was found in:
    ``warning: run.toml: opponent_samples (in [train], [solvers.egpo]) is deprecated; use num_comparisons ...``."""
    found: dict[tuple[str, str], list[str]] = {}
    for where, old, new in notes:
        found.setdefault((old, new), [])
        if where not in found[old, new]:
            found[old, new].append(where)
    return [f"warning: {source + ': ' if source else ''}{old} (in {', '.join(wheres)}) is deprecated; use {new} (same "
            f"meaning; the old name will be removed)" for (old, new), wheres in found.items()]


def normalize_table(cls, table: Any, where: str, dotted: str = "", *, notes: list | None = None) -> dict:
    """The keys of TOML table ``table`` checked against dataclass ``cls``: a deprecated name (an :func:`option`
    ``alias``) is renamed to its field, with a note ``(where, old, new)`` appended to ``notes`` (or, when ``notes`` is
    ``None``, its :func:`deprecation_lines` line printed to stderr); the old and the new name together are refused; an unknown key is refused with its dotted path and the
    closest valid name::

        unknown key 'model.sede'; did you mean 'seed'? valid keys in [model]: source, family, ...

    Values are not checked here (the dataclass does that when built)."""
    import sys

    if not isinstance(table, dict):
        name = dotted or where
        raise ConfigError(f"{name} must be a table ({where}); got {table!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    aliases = {_meta(f)["alias"]: f.name for f in fields.values() if _meta(f).get("alias")}
    out = {}
    for key, value in table.items():
        if key in aliases:
            new = aliases[key]
            if new in table:
                raise ConfigError(f"{where} has both {key} and {new}; {key} is the deprecated name of {new}: keep "
                                  f"only {new}")
            if notes is None:
                print(deprecation_lines([(where, key, new)])[0], file=sys.stderr)
            else:
                notes.append((where, key, new))
            key = new
        elif key not in fields:
            path = f"{dotted}.{key}" if dotted else key
            raise ConfigError(f"unknown key {path!r}{hint_sep(key, fields)} valid keys{' in ' + where if where else ''}: "
                              f"{', '.join(fields)}")
        out[key] = value
    return out


def load_table(cls, table: Any, where: str, dotted: str = "", *, notes: list | None = None):
    """A frozen dataclass ``cls`` from a TOML table: keys by :func:`normalize_table`; a field whose type is itself a
    dataclass is read from the sub-table of its name (``[model]``, recursively), a missing required one refused with
    its :func:`option` ``missing`` help (``the [model] table is missing (...)``); then ``cls(**values)``, whose
    ``__post_init__`` (:func:`check_fields` and its own checks) refuses a bad value in one line, prefixed by
    ``where``: ``[model] hidden must be an integer from 1 to 65536; got 0``."""
    values = normalize_table(cls, table, where, dotted, notes=notes)
    hints = type_hints(cls)
    for f in dataclasses.fields(cls):
        sub = hints[f.name]
        if not (isinstance(sub, type) and dataclasses.is_dataclass(sub)):
            continue
        name = f"{dotted}.{f.name}" if dotted else f.name
        if f.name in values:
            values[f.name] = load_table(sub, values[f.name], f"[{name}]", name, notes=notes)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            why = _meta(f).get("missing")
            raise ConfigError(f"the [{name}] table is missing" + (f" ({why})" if why else ""))
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where} {exc}" if where else str(exc)) from None


def as_table(obj) -> dict:
    """The JSON form of a config dataclass: its fields as plain values (tuples → lists), ``None`` ("not given",
    "does not apply") left out, nested dataclasses as sub-tables."""
    out = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if v is None:
            continue
        out[f.name] = as_table(v) if dataclasses.is_dataclass(v) else _plain(v)
    return out


def _plain(v):
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def key_table(cls, table: str) -> str:
    """The keys of config dataclass ``cls`` as a Markdown table (key, what it must be, default, where it applies), from
    the same declarations the loader checks against: the documentation of a ``[table]`` cannot drift from its code."""
    hints = type_hints(cls)
    rows = [f"| `[{table}]` key | must be | default | applies |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        meta = _meta(f)
        tp = hints[f.name]
        must = meta.get("must") or describe(tp, meta)
        if meta.get("only"):
            disc, values = meta["only"]
            kd = meta.get("kind_default", {})
            default = ", ".join(f"{_show(v)} ({k})" for k, v in kd.items()) if kd else "not set"
            applies = f"{disc} = " + " or ".join(repr(v) for v in values)
        else:
            if f.default is not dataclasses.MISSING:
                default = "not set" if f.default is None else _show(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                default = _show(f.default_factory())
            else:
                default = "required"
            applies = "always"
        default = meta.get("shown_default") or default
        name = f"`{f.name}`" + (f" (formerly `{meta['alias']}`)" if meta.get("alias") else "")
        rows.append(f"| {name} | {must} | {default} | {applies} |")
    return "\n".join(rows)


def _show(v) -> str:
    if isinstance(v, bool):
        return "`true`" if v else "`false`"
    if isinstance(v, str):
        return f'`"{v}"`'
    if isinstance(v, (tuple, list)):
        return "`[" + ", ".join(_show(x).strip("`") for x in v) + "]`"
    if isinstance(v, dict):
        return "`{}`" if not v else f"`{v}`"
    return f"`{v!r}`" if not isinstance(v, float) else f"`{v:g}`"
