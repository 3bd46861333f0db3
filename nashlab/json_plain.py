"""The one JSON sanitiser: any result (numbers, numpy and torch scalars and arrays, dicts, lists, tuples, paths) to
plain JSON data that ``json.dumps(..., allow_nan=False)`` accepts.

Every writer of JSON in nashlab goes through :func:`to_plain`: the CLI's emitter
(:func:`nashlab.experiments.json_output.emit_json`), ``nashlab report`` (:func:`nashlab.experiments.report.report_json`),
:meth:`nashlab.solvers.solve.SolveResult.to_json` and the results store (:mod:`nashlab.experiments.store`). What
becomes of a value that is not finite (NaN, +inf, −inf) is the one thing a caller chooses:

* ``nonfinite="null"`` (the default): ``None`` (JSON ``null``); with a ``warnings`` list, one entry naming its key path
  is added (``"final.kl_to_nash is NaN"``, ``"trace.duality_gap[3] is +inf"``; an array with several such entries gets
  one entry for the array: ``"trace.kl_to_nash: 11 of 11 entries are not finite (NaN at [0], [1], [2], …)"``).
* ``nonfinite="text"``: the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (the spellings of Python's own
  non-strict JSON), which :func:`from_text` turns back into floats: strict JSON that keeps +inf apart from NaN, for the
  store, whose numbers are read back (a diverged run's +inf gap is not a missing one).
* ``nonfinite="keep"``: the float itself — not strict JSON; for data that a strict writer converts again
  (:meth:`~nashlab.solvers.solve.SolveResult.to_json` without a ``warnings`` list, whose caller hands the data to
  ``emit_json``, which then names each such value in its warnings).

It lives in the root package (beside :mod:`nashlab.toml_config`): ``solvers`` may not import ``experiments``
(docs/design.md §1), and both use it. It imports no nashlab module, and numpy and torch only when already imported.

>>> to_plain({"final": {"kl_to_nash": float("nan"), "duality_gap": 0.5}}, warnings := [])
{'final': {'kl_to_nash': None, 'duality_gap': 0.5}}
>>> warnings
['final.kl_to_nash is NaN']
>>> to_plain([1.0, float("inf")], nonfinite="text")
[1.0, 'Infinity']
>>> from_text([1.0, "Infinity", "NaN"])
[1.0, inf, nan]
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from typing import Any

#: At most this many indices are listed in the warning of an array with several non-finite entries.
MAX_LISTED = 3

#: ``nonfinite="text"`` spellings and the floats :func:`from_text` reads them back as.
NONFINITE_TEXT = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def describe(x: float) -> str:
    """``"NaN"``, ``"+inf"`` or ``"-inf"``: how a warning names a non-finite value."""
    return "NaN" if x != x else ("+inf" if x > 0 else "-inf")


def _text(x: float) -> str:
    return "NaN" if x != x else ("Infinity" if x > 0 else "-Infinity")


def array_to_list(x: Any) -> Any:
    """numpy / torch array or scalar → Python list or number; anything else returned as is."""
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(x, np.ndarray):
            return x.tolist()
        if isinstance(x, np.generic):
            return x.item()
    torch = sys.modules.get("torch")  # only if already imported: writing JSON must not pay for importing torch
    if torch is not None and isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        return t.item() if t.ndim == 0 else t.tolist()
    return x


def _count_leaves(x: Any) -> int:
    if isinstance(x, list):
        return sum(_count_leaves(v) for v in x)
    return 1


def _convert(x: Any, path: str, warnings: list[str], in_array: list | None, text: bool | None) -> Any:
    """Plain JSON data from ``x``. A non-finite float becomes ``None`` (or its text): inside an array its index path
    is appended to ``in_array`` (the caller writes one warning for the array); outside, a warning naming ``path``."""
    x = array_to_list(x)
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, int):
        return int(x)  # an int subclass (IntEnum) as a plain int
    if isinstance(x, float):
        if math.isfinite(x):
            return float(x)
        if text is None:
            return x
        if text:
            return _text(x)
        if in_array is None:
            warnings.append(f"{path or 'value'} is {describe(x)}")
        else:
            in_array.append((path, describe(x)))
        return None
    if isinstance(x, Mapping):
        out = {}
        for k, v in x.items():
            k = array_to_list(k)
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                raise TypeError(f"JSON object key at {path or 'top level'} must be a string; got {type(k).__name__}")
            out[k] = _convert(v, f"{path}.{k}" if path else str(k), warnings, None, text)
        return out
    if isinstance(x, (list, tuple)):
        if in_array is not None:  # a row of a nested array: its indices extend the outer array's
            return [_convert(v, f"{path}[{i}]", warnings, in_array, text) for i, v in enumerate(x)]
        bad: list[tuple[str, str]] = []
        out = [_convert(v, f"{path}[{i}]", warnings, bad, text) for i, v in enumerate(x)]
        if len(bad) == 1:
            warnings.append(f"{bad[0][0]} is {bad[0][1]}")
        elif bad:
            total = _count_leaves(out)
            by_kind: dict[str, list[str]] = {}
            for p, kind in bad:
                by_kind.setdefault(kind, []).append(p[len(path):])
            listed = "; ".join(f"{kind} at {', '.join(ps[:MAX_LISTED])}{', …' if len(ps) > MAX_LISTED else ''}"
                               for kind, ps in by_kind.items())
            warnings.append(f"{path or 'value'}: {len(bad)} of {total} entries are not finite ({listed})")
        return out
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    raise TypeError(f"cannot write {type(x).__name__} at {path or 'top level'} as JSON")


def to_plain(x: Any, warnings: list[str] | None = None, *, nonfinite: str = "null") -> Any:
    """``x`` as plain JSON data (dicts, lists, str, int, float, bool, None) with every float finite.

    Args:
        x: the value; numpy/torch scalars and arrays become numbers and (nested) lists, tuples lists, paths strings.
        warnings: where ``nonfinite="null"`` appends one entry per replaced value (or per array), naming its key
            path; ``None`` discards them.
        nonfinite: ``"null"``, ``"text"`` or ``"keep"`` (see the module docstring).

    Raises:
        TypeError: a value of another type, or an object key that is not a string or number, naming its path.
        ValueError: an unknown ``nonfinite``.
    """
    modes = {"null": False, "text": True, "keep": None}
    if nonfinite not in modes:
        raise ValueError(f"nonfinite must be 'null', 'text' or 'keep'; got {nonfinite!r}")
    return _convert(x, "", [] if warnings is None else warnings, None, modes[nonfinite])


def from_text(x: Any) -> Any:
    """The inverse of ``nonfinite="text"`` for numeric data: the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
    (in dicts and lists, at any depth) become the floats they name; everything else is returned unchanged."""
    if isinstance(x, str):
        return NONFINITE_TEXT.get(x, x)
    if isinstance(x, list):
        return [from_text(v) for v in x]
    if isinstance(x, dict):
        return {k: from_text(v) for k, v in x.items()}
    return x
