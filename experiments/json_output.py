"""The one JSON emitter of the ``nashlab`` CLI: every ``--json`` output ends stdout with a line written by
:func:`emit_json`.

The contract (documented in ``docs/json_output.md``):

* the document is one JSON object on one line, the last line of stdout, written with ``allow_nan=False`` — strict
  JSON that any parser reads (Python's ``json.dumps`` would otherwise write the non-standard ``NaN``/``Infinity``);
* it carries ``schema_version`` (an integer, :data:`SCHEMA_VERSION`) and ``warnings`` (a list of strings, empty when
  nothing was replaced);
* a value that is not finite (NaN, +inf, −inf) becomes ``null`` and adds one entry to ``warnings`` naming its key path,
  e.g. ``"final.kl_to_nash is NaN"``, ``"trace.duality_gap[3] is +inf"``; an array with several non-finite entries
  gets one entry for the whole array (``"trace.kl_to_nash: 11 of 11 entries are not finite (NaN at [0], [1], [2],
  …)"``);
* numpy and torch scalars and arrays become numbers and (nested) lists, tuples lists, paths strings.

Commands that report a trajectory's ends (``solve``, ``llm train``) also carry ``initial`` and ``final`` objects with
the same metric names (``duality_gap``, ``reg_duality_gap``, ``kl_to_nash``); :func:`ends_from_flat` builds them from
the flat ``initial_*`` / ``final_*`` keys of older outputs, which stay.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

#: Version of the JSON output contract. Raised when a key is removed or changes meaning; adding keys keeps it.
SCHEMA_VERSION = 1

#: Appended to every ``--json`` help string: the contract in one line.
JSON_HELP = (f"; strict JSON with schema_version {SCHEMA_VERSION} and a warnings list (a NaN or infinite value is "
             "written null and named there), see docs/json_output.md")

#: At most this many indices are listed in the warning of an array with several non-finite entries.
_MAX_LISTED = 3

#: Keys every document carries, whichever command wrote it.
COMMON_KEYS = ("schema_version", "warnings")

#: Keys each command's document carries besides :data:`COMMON_KEYS` (a key may be ``null`` where documented). The
#: tests check every command's output against this table, and ``docs/json_output.md`` lists the same keys.
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "solve": ("game", "solver", "hparams", "queries", "samples", "policy", "initial", "final", "trace",
              "nash_unique"),
    "nash": ("game", "n", "beta", "ref", "value", "batch_shape", "certificate", "policy", "duality_gap",
             "max_win_rate", "support", "seconds", "nash_unique", "condorcet_winner", "cycles3", "cyclic_share"),
    "games": ("generators", "contextual", "openspiel", "datasets", "spec_forms", "ref_forms"),
    "report": ("tasks", "num_tasks", "target", "tables", "queries_to_target"),
    "run": ("tasks", "skipped", "ran", "batches", "wall_s"),
    "figs": ("figures",),
    "bench": (),  # ``bench solvers`` and ``bench equilibria`` report different measurements
    "solvers": ("rules",),
    "verify": ("rule", "spec", "hparams", "fingerprint", "passed", "behaviour", "claim", "seconds", "cached",
               "checks"),
    "llm train": ("solver", "hparams", "iterations", "initial", "final", "initial_duality_gap", "final_duality_gap",
                  "tokens_per_second", "judge_queries", "generated_tokens", "verification"),
}

#: The ends-of-a-run metrics: ``initial`` and ``final`` objects hold these names wherever a run has them.
END_METRICS = ("duality_gap", "reg_duality_gap", "kl_to_nash")


def _describe(x: float) -> str:
    return "NaN" if x != x else ("+inf" if x > 0 else "-inf")


def _index(idx: tuple[int, ...]) -> str:
    return "".join(f"[{i}]" for i in idx)


def _array_to_list(x: Any) -> Any:
    """numpy / torch array or scalar → Python list or number; anything else returned as is."""
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(x, np.ndarray):
            return x.tolist()
        if isinstance(x, np.generic):
            return x.item()
    torch = sys.modules.get("torch")  # only if already imported: emitting JSON must not pay for importing torch
    if torch is not None and isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        return t.item() if t.ndim == 0 else t.tolist()
    return x


def _convert(x: Any, path: str, warnings: list[str], in_array: list | None) -> Any:
    """Plain JSON data from ``x``. A non-finite float becomes ``None``: inside an array its index path is appended
    to ``in_array`` (the caller writes one warning for the array); outside, a warning naming ``path`` is added."""
    x = _array_to_list(x)
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, int):
        return int(x)  # an int subclass (IntEnum) as a plain int
    if isinstance(x, float):
        if math.isfinite(x):
            return float(x)
        if in_array is None:
            warnings.append(f"{path or 'value'} is {_describe(x)}")
        else:
            in_array.append((path, _describe(x)))
        return None
    if isinstance(x, Mapping):
        out = {}
        for k, v in x.items():
            k = _array_to_list(k)
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                raise TypeError(f"JSON object key at {path or 'top level'} must be a string; got {type(k).__name__}")
            out[k] = _convert(v, f"{path}.{k}" if path else str(k), warnings, None)
        return out
    if isinstance(x, (list, tuple)):
        if in_array is not None:  # a row of a nested array: its indices extend the outer array's
            return [_convert(v, f"{path}[{i}]", warnings, in_array) for i, v in enumerate(x)]
        bad: list[tuple[str, str]] = []
        out = [_convert(v, f"{path}[{i}]", warnings, bad) for i, v in enumerate(x)]
        if len(bad) == 1:
            warnings.append(f"{bad[0][0]} is {bad[0][1]}")
        elif bad:
            total = _count_leaves(out)
            by_kind: dict[str, list[str]] = {}
            for p, kind in bad:
                by_kind.setdefault(kind, []).append(p[len(path):])
            listed = "; ".join(f"{kind} at {', '.join(ps[:_MAX_LISTED])}{', …' if len(ps) > _MAX_LISTED else ''}"
                               for kind, ps in by_kind.items())
            warnings.append(f"{path or 'value'}: {len(bad)} of {total} entries are not finite ({listed})")
        return out
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    raise TypeError(f"cannot write {type(x).__name__} at {path or 'top level'} as JSON")


def _count_leaves(x: Any) -> int:
    if isinstance(x, list):
        return sum(_count_leaves(v) for v in x)
    return 1


def to_document(data: Mapping, warnings: Iterable[str] = ()) -> dict:
    """``data`` as a JSON document of the contract: converted (see the module docstring), with ``schema_version``
    first and ``warnings`` (the given ``warnings``, then one per replaced non-finite value) last.

    ``data`` must not itself hold ``schema_version`` or ``warnings`` (they belong to the emitter).

    >>> to_document({"final": {"kl_to_nash": float("nan"), "duality_gap": 0.5}})
    {'schema_version': 1, 'final': {'kl_to_nash': None, 'duality_gap': 0.5}, 'warnings': ['final.kl_to_nash is NaN']}
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"a JSON document is an object; got {type(data).__name__}")
    clash = [k for k in COMMON_KEYS if k in data]
    if clash:
        raise ValueError(f"the document already holds {', '.join(clash)}: those keys belong to the emitter")
    notes = [str(w) for w in warnings]
    body = _convert(data, "", notes, None)
    return {"schema_version": SCHEMA_VERSION, **body, "warnings": notes}


def emit_json(data: Mapping, *, warnings: Iterable[str] = (), file: TextIO | None = None) -> dict:
    """Write ``data`` as the command's JSON document: one line, strict JSON (``allow_nan=False``), flushed, to
    ``file`` (default: stdout). Returns the document written (see :func:`to_document`).

    >>> doc = emit_json({"policy": [0.5, 0.5], "seconds": float("inf")})
    {"schema_version": 1, "policy": [0.5, 0.5], "seconds": null, "warnings": ["seconds is +inf"]}
    """
    doc = to_document(data, warnings)
    out = sys.stdout if file is None else file
    out.write(json.dumps(doc, allow_nan=False) + "\n")
    out.flush()
    return doc


def ends_from_flat(data: Mapping, metrics: Iterable[str] = END_METRICS) -> dict:
    """``{"initial": {...}, "final": {...}}`` from flat ``initial_<metric>`` / ``final_<metric>`` keys (as ``llm
    train`` writes them); a metric missing from ``data`` is left out of both objects.

    >>> ends_from_flat({"initial_duality_gap": 0.4, "final_duality_gap": 0.1, "tokens_per_second": 9.0})
    {'initial': {'duality_gap': 0.4}, 'final': {'duality_gap': 0.1}}
    """
    return {end: {m: data[f"{end}_{m}"] for m in metrics if f"{end}_{m}" in data} for end in ("initial", "final")}


def check_document(doc: Mapping, command: str) -> list[str]:
    """Problems of ``doc`` against the contract for ``command`` (empty when it conforms): ``schema_version`` equal
    to :data:`SCHEMA_VERSION`, ``warnings`` a list of strings, every key of :data:`REQUIRED_KEYS` present, and
    ``initial`` / ``final`` (where present) objects."""
    problems = []
    if doc.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema_version is {doc.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    w = doc.get("warnings")
    if not (isinstance(w, list) and all(isinstance(s, str) for s in w)):
        problems.append(f"warnings must be a list of strings; got {w!r}")
    if command not in REQUIRED_KEYS:
        problems.append(f"unknown command {command!r}")
    else:
        problems += [f"missing key {k!r}" for k in REQUIRED_KEYS[command] if k not in doc]
    for end in ("initial", "final"):
        if end in doc and not isinstance(doc[end], dict):
            problems.append(f"{end} must be an object; got {type(doc[end]).__name__}")
    return problems
