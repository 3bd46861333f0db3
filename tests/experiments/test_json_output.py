"""The JSON output contract (``docs/json_output.md``): the emitter alone, then every command that uses it, each output
read by a strict parser (one that refuses ``NaN``/``Infinity``) and checked against the documented keys."""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from nashlab.experiments import json_output
from nashlab.experiments.cli import main
from nashlab.experiments.json_output import (
    REQUIRED_KEYS,
    SCHEMA_VERSION,
    check_document,
    emit_json,
    ends_from_flat,
    to_document,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "json_output.md"


def _refuse(constant):
    raise ValueError(f"non-standard JSON constant {constant}")


def strict_loads(text: str) -> dict:
    """``json.loads`` that refuses ``NaN``, ``Infinity`` and ``-Infinity`` (Python's parser accepts them)."""
    return json.loads(text, parse_constant=_refuse)


def test_strict_parser_refuses_what_plain_json_dumps_writes():
    """The parser of these tests can fail: it refuses the bare NaN that ``json.dumps`` writes by default."""
    with pytest.raises(ValueError, match="NaN"):
        strict_loads(json.dumps({"x": float("nan")}))
    with pytest.raises(ValueError, match="Infinity"):
        strict_loads(json.dumps([float("-inf")]))


# --- the emitter ----------------------------------------------------------------------------------------------------


def _emit(data, **kw):
    buf = io.StringIO()
    doc = emit_json(data, file=buf, **kw)
    text = buf.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1, "one line"
    parsed = strict_loads(text)
    assert parsed == doc
    return parsed


def test_schema_version_first_warnings_last_and_values_unchanged():
    data = {"policy": [0.25, 0.75], "n": 2, "name": "g", "unique": True, "none": None, "nested": {"a": [1, [2, 3]]}}
    doc = _emit(data)
    assert list(doc) == ["schema_version", *data, "warnings"]
    assert doc["schema_version"] == SCHEMA_VERSION == 2 and isinstance(SCHEMA_VERSION, int)
    assert doc["warnings"] == []
    assert {k: doc[k] for k in data} == data


@pytest.mark.parametrize("value, word", [(float("nan"), "NaN"), (float("inf"), "+inf"), (float("-inf"), "-inf")])
def test_non_finite_scalar_becomes_null_with_its_key_path(value, word):
    doc = _emit({"final": {"kl_to_ref": value, "duality_gap": 0.5}, "top": value})
    assert doc["final"] == {"kl_to_ref": None, "duality_gap": 0.5} and doc["top"] is None
    assert doc["warnings"] == [f"final.kl_to_ref is {word}", f"top is {word}"]


def test_nested_paths_in_objects_and_arrays():
    doc = _emit({"a": {"b": [1.0, float("nan")], "c": {"d": [[0.0, 1.0], [float("inf"), 2.0]]}},
                 "rows": [{"gap": float("nan")}, {"gap": 0.1}]})
    assert doc["a"] == {"b": [1.0, None], "c": {"d": [[0.0, 1.0], [None, 2.0]]}}
    assert doc["rows"] == [{"gap": None}, {"gap": 0.1}]
    assert doc["warnings"] == ["a.b[1] is NaN", "a.c.d[1][0] is +inf", "rows[0].gap is NaN"]


def test_an_array_with_many_non_finite_entries_gets_one_warning():
    """A trace of an undefined metric (KL to a non-unique equilibrium) is NaN at every record: one warning, which
    counts them and lists the first few indices by kind."""
    trace = [float("nan")] * 5 + [1.0, float("inf")]
    doc = _emit({"trace": {"kl": trace}})
    assert doc["trace"]["kl"] == [None] * 5 + [1.0, None]
    assert doc["warnings"] == ["trace.kl: 6 of 7 entries are not finite (NaN at [0], [1], [2], …; +inf at [6])"]
    doc = _emit({"m": np.array([[np.nan, 1.0], [2.0, np.nan]])})
    assert doc["m"] == [[None, 1.0], [2.0, None]]
    assert doc["warnings"] == ["m: 2 of 4 entries are not finite (NaN at [0][0], [1][1])"]


def test_numpy_and_torch_scalars_and_arrays():
    data = {
        "f64": np.float64(0.5), "f32": np.float32(0.25), "i64": np.int64(7), "b": np.bool_(True),
        "arr": np.arange(4, dtype=np.int32).reshape(2, 2), "bool_arr": np.array([True, False]),
        "t0": torch.tensor(1.5, dtype=torch.float64), "t": torch.tensor([[1.0, 2.0]]), "ti": torch.tensor([3]),
        "t_nan": torch.tensor([0.0, float("nan")]), "np_nan": np.float32("nan"), "tup": (1, np.float64(2.0)),
        "path": Path("runs/x"),
    }
    doc = _emit(data)
    assert doc["f64"] == 0.5 and doc["f32"] == 0.25 and doc["i64"] == 7 and doc["b"] is True
    assert doc["arr"] == [[0, 1], [2, 3]] and doc["bool_arr"] == [True, False]
    assert doc["t0"] == 1.5 and doc["t"] == [[1.0, 2.0]] and doc["ti"] == [3]
    assert doc["t_nan"] == [0.0, None] and doc["np_nan"] is None and doc["tup"] == [1, 2.0]
    assert doc["path"] == str(Path("runs/x"))
    assert doc["warnings"] == ["t_nan[1] is NaN", "np_nan is NaN"]
    assert type(doc["i64"]) is int and type(doc["f64"]) is float


def test_given_warnings_come_first_and_non_json_values_are_refused():
    doc = _emit({"x": float("nan")}, warnings=["the equilibrium is not unique"])
    assert doc["warnings"] == ["the equilibrium is not unique", "x is NaN"]
    with pytest.raises(TypeError, match="set at a.b"):
        to_document({"a": {"b": {1, 2}}})
    with pytest.raises(TypeError, match="object"):
        to_document([1, 2])
    with pytest.raises(ValueError, match="schema_version"):
        to_document({"schema_version": 3})


def test_the_input_is_not_modified():
    data = {"final": {"kl": float("nan")}, "arr": [float("inf")]}
    to_document(data)
    assert math.isnan(data["final"]["kl"]) and data["arr"] == [float("inf")]


def test_ends_from_flat_keeps_the_metric_names():
    flat = {"initial_duality_gap": 0.4, "final_duality_gap": 0.1, "initial_kl_to_nash": 2.0,
            "final_kl_to_nash": float("nan"), "tokens_per_second": 9.0}
    ends = ends_from_flat(flat)
    assert ends == {"initial": {"duality_gap": 0.4, "kl_to_nash": 2.0},
                    "final": {"duality_gap": 0.1, "kl_to_nash": flat["final_kl_to_nash"]}}
    doc = to_document({**flat, **ends})
    assert doc["final"]["kl_to_nash"] is None and doc["final_kl_to_nash"] is None
    assert doc["warnings"] == ["final_kl_to_nash is NaN", "final.kl_to_nash is NaN"]


def test_check_document_finds_each_problem():
    assert check_document({"schema_version": 2, "warnings": [], "figures": []}, "figs") == []
    problems = check_document({"schema_version": 0, "warnings": [1], "initial": []}, "figs")
    assert problems == ["schema_version is 0, expected 2", "warnings must be a list of strings; got [1]",
                        "missing key 'figures'", "initial must be an object; got list"]


def test_the_documentation_lists_every_required_key_and_the_version():
    text = DOCS.read_text(encoding="utf-8")
    assert re.search(rf"`schema_version`.*\b{SCHEMA_VERSION}\b", text)
    for command, keys in REQUIRED_KEYS.items():
        section = text.split(f"### `nashlab {command}", 1)
        assert len(section) == 2, f"docs/json_output.md has no section for nashlab {command}"
        body = section[1].split("\n### ", 1)[0]
        missing = [k for k in keys if f"`{k}`" not in body]
        assert not missing, f"nashlab {command}: {missing} not documented"


# --- every command ----------------------------------------------------------------------------------------------------


def _last_doc(capsys, command: str) -> dict:
    out = capsys.readouterr().out
    assert out.endswith("\n")
    doc = strict_loads(out.splitlines()[-1])
    assert check_document(doc, command) == []
    return doc


def test_solve_json_has_initial_and_final(capsys):
    assert main(["solve", "--game", "cyclic:n=5", "--solver", "egpo", "--init", "random:seed=1", "--iters", "20",
                 "--every", "10", "--json"]) == 0
    doc = _last_doc(capsys, "solve")
    assert doc["warnings"] == []
    assert set(doc["initial"]) == set(doc["final"]) >= set(json_output.END_METRICS)
    for k, v in doc["initial"].items():  # iteration 0 of the trace, and final its last record
        assert v == doc["trace"][k][0] and doc["final"][k] == doc["trace"][k][-1]
    # initial is the random start's gap, computed here by hand: DG_0(π_0) = 2 max_y (Pπ_0)_y − 1, with the cyclic
    # 5-tournament's P (½ on the diagonal; action i beats i+1 and i+2 mod 5: P[i, j] = 1 for j − i ∈ {1, 2})
    pi0 = torch.softmax(torch.randn(5, generator=torch.Generator().manual_seed(1), dtype=torch.float64), 0).numpy()
    P = np.full((5, 5), 0.5)
    for i in range(5):
        for d in (1, 2):
            P[i, (i + d) % 5], P[(i + d) % 5, i] = 1.0, 0.0
    assert doc["initial"]["duality_gap"] == pytest.approx(2 * (P @ pi0).max() - 1, abs=1e-12)


def test_solve_json_with_an_undefined_metric(capsys):
    """cyclic:n=4 has a segment of equilibria at β = 0: KL to one of them is undefined (NaN) → null + warnings."""
    assert main(["solve", "--game", "cyclic:n=4", "--solver", "egpo", "--iters", "20", "--json"]) == 0
    doc = _last_doc(capsys, "solve")
    assert doc["final"]["kl_to_nash"] is None and doc["initial"]["kl_to_nash"] is None
    assert doc["final"]["duality_gap"] == 0.0 and doc["nash_unique"] is False
    assert "final.kl_to_nash is NaN" in doc["warnings"] and "initial.kl_to_nash is NaN" in doc["warnings"]
    assert "trace.kl_to_nash: 3 of 3 entries are not finite (NaN at [0], [1], [2])" in doc["warnings"]


def test_nash_json(capsys):
    assert main(["nash", "--game", "cyclic:n=5", "--beta", "0.1", "--json"]) == 0
    doc = _last_doc(capsys, "nash")
    assert doc["warnings"] == [] and doc["reg_duality_gap"] <= 1e-12 and doc["policy"] == pytest.approx([0.2] * 5)


def test_nash_json_with_a_non_finite_metric(capsys, monkeypatch):
    """A metric that came out NaN (injected: no real game is known to make one) is null with a warning, not a
    refusal (``allow_nan=False`` alone would raise)."""
    from nashlab.experiments.commands import nash

    real = nash.solve_game

    def nan_gap(*a, **kw):
        out = real(*a, **kw)
        out["duality_gap"] = np.float64("nan")
        return out

    monkeypatch.setattr(nash, "solve_game", nan_gap)
    assert main(["nash", "--game", "cyclic:n=5", "--json"]) == 0
    doc = _last_doc(capsys, "nash")
    assert doc["duality_gap"] is None and doc["warnings"] == ["duality_gap is NaN"]


def test_games_json(capsys):
    assert main(["games", "--json"]) == 0
    doc = _last_doc(capsys, "games")
    assert doc["warnings"] == [] and "cyclic" in [g["name"] for g in doc["generators"]]


TINY_TOML = """
[sweep]
iters = 10
every = 5
seeds = 1
feedback = ["exact"]
init = ["ref"]
beta = [0.1]
solvers = ["egpo"]

[[games]]
name = "rps"
spec = "cyclic:n=3"
ref = "random:seed={seed}"
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("json_run")
    (d / "tiny.toml").write_text(TINY_TOML)
    return d


def test_run_report_and_figs_json(tiny_run, capsys):
    out = tiny_run / "run"
    assert main(["run", str(tiny_run / "tiny.toml"), "--out", str(out), "--workers", "1", "--no-progress",
                 "--no-figs", "--json"]) == 0
    doc = _last_doc(capsys, "run")
    assert (doc["tasks"], doc["ran"], doc["skipped"]) == (1, 1, 0) and doc["warnings"] == []

    assert main(["report", str(out), "--json"]) == 0
    doc = _last_doc(capsys, "report")
    assert doc["num_tasks"] == 1 and len(doc["tasks"]) == 1 and doc["warnings"] == []

    assert main(["figs", str(out), "--workers", "1", "--json"]) == 0
    doc = _last_doc(capsys, "figs")
    assert doc["figures"] and all(Path(p).is_file() for p in doc["figures"])


def test_bench_solvers_json(capsys, monkeypatch):
    """The measurement itself takes a minute: a stand-in with numpy numbers and an unmeasured (NaN) ratio checks the
    command's output path."""
    from nashlab.solvers import benchmarks

    monkeypatch.setattr(benchmarks, "run_all", lambda quick, threads: {
        "torch_threads": 1, "step_n400": {"ratio": np.float64(1.5)}, "gpu": "not measured (no CUDA)",
        "openspiel_mmd_n400": {"speedup": float("nan")}})
    assert main(["bench", "--json"]) == 0
    doc = _last_doc(capsys, "bench")
    assert doc["step_n400"] == {"ratio": 1.5} and doc["openspiel_mmd_n400"] == {"speedup": None}
    assert doc["warnings"] == ["openspiel_mmd_n400.speedup is NaN"]


def test_bench_equilibria_json(capsys, monkeypatch):
    from nashlab.games import nash_bench

    monkeypatch.setattr(nash_bench, "run", lambda sizes, time_limit, progress: {
        "rows": [{"n": n, "exact": {"seconds": np.float64(0.01)}, "highs_ipm": {"seconds": float("inf")}}
                 for n in sizes]})
    assert main(["bench", "equilibria", "--sizes", "4", "--json"]) == 0
    doc = _last_doc(capsys, "bench")
    assert doc["rows"] == [{"n": 4, "exact": {"seconds": 0.01}, "highs_ipm": {"seconds": None}}]
    assert doc["warnings"] == ["rows[0].highs_ipm.seconds is +inf"]
