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

The conversion is :func:`nashlab.json_plain.to_plain`, the one sanitiser every JSON writer of nashlab shares.

Commands that report a trajectory's ends (``solve``, ``llm train``) also carry ``initial`` and ``final`` objects with
the same metric names (``duality_gap``, ``reg_duality_gap``, ``kl_to_nash``); :func:`ends_from_flat` builds them from
the flat ``initial_*`` / ``final_*`` keys of older outputs, which stay.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import TextIO

from nashlab.json_plain import to_plain

#: Version of the JSON output contract. Raised when a key is removed, renamed or changes meaning; adding keys keeps
#: it. 2: ``players`` became ``num_players`` (``report``'s tasks), and the LLM configs' ``opponent_samples`` became
#: ``num_comparisons`` (docs/json_output.md, "Schema versions").
SCHEMA_VERSION = 2

#: Appended to every ``--json`` help string: the contract in one line.
JSON_HELP = (f"; strict JSON with schema_version {SCHEMA_VERSION} and a warnings list (a NaN or infinite value is "
             "written null and named there), see docs/json_output.md")

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


def to_document(data: Mapping, warnings: Iterable[str] = ()) -> dict:
    """``data`` as a JSON document of the contract: converted (see the module docstring), with ``schema_version``
    first and ``warnings`` (the given ``warnings``, then one per replaced non-finite value) last.

    ``data`` must not itself hold ``schema_version`` or ``warnings`` (they belong to the emitter).

    >>> to_document({"final": {"kl_to_nash": float("nan"), "duality_gap": 0.5}})
    {'schema_version': 2, 'final': {'kl_to_nash': None, 'duality_gap': 0.5}, 'warnings': ['final.kl_to_nash is NaN']}
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"a JSON document is an object; got {type(data).__name__}")
    clash = [k for k in COMMON_KEYS if k in data]
    if clash:
        raise ValueError(f"the document already holds {', '.join(clash)}: those keys belong to the emitter")
    notes = [str(w) for w in warnings]
    body = to_plain(data, notes)
    return {"schema_version": SCHEMA_VERSION, **body, "warnings": notes}


def emit_json(data: Mapping, *, warnings: Iterable[str] = (), file: TextIO | None = None) -> dict:
    """Write ``data`` as the command's JSON document: one line, strict JSON (``allow_nan=False``), flushed, to
    ``file`` (default: stdout). Returns the document written (see :func:`to_document`).

    >>> doc = emit_json({"policy": [0.5, 0.5], "seconds": float("inf")})
    {"schema_version": 2, "policy": [0.5, 0.5], "seconds": null, "warnings": ["seconds is +inf"]}
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
