"""Attack the CLI with generated input, verb by verb: every outcome is a clean answer or a one-line refusal.

For each generated command line (specs, matrices with NaN/inf/ragged rows/wrong dtypes/huge claimed shapes/pickles,
reference policies, β, η, seeds, sample counts, iteration counts, TOML values, corrupt result stores) the test asserts
the contract of :mod:`attack_harness`: exit 0 with strict JSON, exit 2 with exactly one stderr line, or exit 1 with one
``failed:`` line; never a traceback; never past the time limit.

The budget follows the hypothesis profile: the suite's derandomised ``ci`` profile runs a few dozen cases per verb;
``HYPOTHESIS_PROFILE=thorough`` runs many more (by hand, e.g. with ``NASHLAB_ATTACK_LOG`` set to tally a campaign).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from attack_harness import invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nashlab.games import make_matrix
from nashlab.solvers import SOLVERS

REPO = Path(__file__).resolve().parents[2]
THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
#: NASHLAB_ATTACK_CAMPAIGN=1 (with NASHLAB_ATTACK_LOG=FILE): log every outcome and go on, so that a whole budget is
#: tallied (``python tests/attack/attack_harness.py FILE``) instead of stopping at the first defect.
CAMPAIGN = os.environ.get("NASHLAB_ATTACK_CAMPAIGN") == "1"


def budget(n: int) -> settings:
    return settings(max_examples=n * 20 if THOROUGH else n, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])


def assert_clean(outcome) -> None:
    assert CAMPAIGN or outcome.clean, outcome.explain()


# ---- values an attacker types ------------------------------------------------------------------------------------

NUMBERISH = st.one_of(
    st.sampled_from(["0", "1", "-1", "2", "3", "5", "nan", "inf", "-inf", "1e300", "1e-300", "abc", "", "0x10",
                     "1_000", "99999999999999999999", "2.5", "true", "-0", "1e3", " 4", "9223372036854775808"]),
    st.integers(-3, 12).map(str),
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
)
GENERATOR_KEYS = ["n", "seed", "margin", "scale", "cyclic", "spread", "raters", "concentration", "rotation", "dim",
                  "contexts", "features", "ref_scale", "bogus"]


@st.composite
def game_specs(draw) -> str:
    name = draw(st.sampled_from(["cyclic", "skew", "egpo", "hodge", "bt", "annotators", "embedding", "contextual",
                                 "openspiel", "nosuchgame", ""]))
    if name == "openspiel":
        return "openspiel:" + draw(st.sampled_from(["matrix_rps", "matrix_pd", "kuhn_poker", "", "nope", "matrix_rps("]))
    params = draw(st.lists(st.tuples(st.sampled_from(GENERATOR_KEYS), NUMBERISH), max_size=3))
    # Keep the accepted games small: the CLI's time limit is for refusals and short answers, not for big LPs.
    params = [(k, v) for k, v in params if not (k in ("n", "contexts", "features", "dim", "raters") and _big(v))]
    sep = draw(st.sampled_from([",", ",", ";", ",,"]))
    return name + (":" + sep.join(f"{k}={v}" for k, v in params) if params or draw(st.booleans()) else "")


def _big(v: str) -> bool:
    try:
        return 40 < float(v) < 1e6
    except ValueError:
        return False


@st.composite
def matrix_files(draw, folder: Path) -> str:
    """A matrix file an attacker could send: valid, or broken in one of many ways."""
    kind = draw(st.sampled_from(["npy", "npy-pickle", "npy-huge-header", "json", "csv", "bytes", "empty"]))
    n = draw(st.integers(0, 5))
    P = make_matrix("cyclic", n=max(n, 1)) if n else np.zeros((0, 0))
    damage = draw(st.sampled_from(["none", "nan", "inf", "negative", "above-one", "not-skew", "transpose-shape",
                                   "1d", "3d", "scalar"]))
    if damage in ("nan", "inf", "negative", "above-one", "not-skew") and P.size:
        i, j = draw(st.integers(0, P.shape[0] - 1)), draw(st.integers(0, P.shape[0] - 1))
        P = P.copy()
        P[i, j] = {"nan": np.nan, "inf": np.inf, "negative": -0.5, "above-one": 1.5, "not-skew": 0.3}[damage]
    elif damage == "transpose-shape" and P.size:
        P = P[:, :-1]
    elif damage == "1d":
        P = P.reshape(-1)
    elif damage == "3d":
        P = P[None]
    elif damage == "scalar":
        P = np.array(0.5)
    path = folder / f"m{draw(st.integers(0, 10**6))}"
    if kind == "npy":
        dtype = draw(st.sampled_from(["float64", "float32", "float16", "int64", "bool", "complex128", "U3"]))
        with np.errstate(invalid="ignore"):
            np.save(path.with_suffix(".npy"), P.astype(dtype))
        return str(path.with_suffix(".npy"))
    if kind == "npy-pickle":  # an object array is stored as a pickle; loading it must never run it
        np.save(path.with_suffix(".npy"), np.array([_Marker(str(folder / "PWNED"))], dtype=object), allow_pickle=True)
        return str(path.with_suffix(".npy"))
    if kind == "npy-huge-header":  # a header claiming a terabyte, followed by a few bytes
        header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }"
        header += " " * (118 - len(header)) + "\n"
        path.with_suffix(".npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little")
                                             + header.encode() + b"\x00" * 64)
        return str(path.with_suffix(".npy"))
    if kind == "json":
        body = draw(st.sampled_from(["matrix", "object", "ragged", "strings", "nested-junk", "beta-bad"]))
        rows = P.tolist() if P.ndim else [[0.5]]
        text = {
            "matrix": _json(rows),
            "object": _json({"P": rows, "beta": 0.1}),
            "ragged": "[[0.5, 0.4], [0.6]]",
            "strings": '[["a", "b"], ["c", "d"]]',
            "nested-junk": '{"P": {"x": 1}, "extra": [1, 2]}',
            "beta-bad": _json({"P": rows, "beta": "lots"}),
        }[body]
        path.with_suffix(".json").write_text(text)
        return str(path.with_suffix(".json"))
    if kind == "csv":
        body = draw(st.sampled_from(["matrix", "ragged", "letters", "semicolons"]))
        rows = P.tolist() if P.ndim == 2 else [[0.5]]
        text = {
            "matrix": "\n".join(",".join(repr(float(x)) for x in r) for r in rows),
            "ragged": "0.5,0.4\n0.6\n",
            "letters": "0.5,x\ny,0.5\n",
            "semicolons": "0.5;0.5\n0.5;0.5\n",
        }[body]
        path.with_suffix(".csv").write_text(text)
        return str(path.with_suffix(".csv"))
    suffix = draw(st.sampled_from([".npy", ".json", ".csv", ".txt", ""]))
    data = draw(st.binary(max_size=200)) if kind == "bytes" else b""
    path.with_suffix(suffix).write_bytes(data)
    return str(path.with_suffix(suffix))


def _json(value) -> str:
    import json

    return json.dumps(value, allow_nan=True)  # NaN tokens on purpose: the reader must refuse them cleanly


class _Marker:
    """Pickled into attack files: unpickling it would create a file, which the tests look for."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@st.composite
def ref_specs(draw, folder: Path) -> str:
    kind = draw(st.sampled_from(["uniform", "random", "random-scale", "npy", "junk"]))
    if kind == "uniform":
        return "uniform"
    if kind == "random":
        return f"random:seed={draw(NUMBERISH)}"
    if kind == "random-scale":
        return f"random:seed={draw(st.integers(0, 3))},scale={draw(NUMBERISH)}"
    if kind == "npy":
        values = draw(st.lists(st.sampled_from([0.2, 0.5, 0.0, -0.1, float("nan"), float("inf"), 1.0]), max_size=6))
        path = folder / f"ref{draw(st.integers(0, 10**6))}.npy"
        np.save(path, np.array(values))
        return str(path)
    return draw(st.sampled_from(["", "random", "random:", "nope:1", "random:seed=1,bogus=2", "uniform:3"]))


# ---- nash and solve -----------------------------------------------------------------------------------------------
# Each case starts from a valid command and damages some of it, so that both the answers and the refusals are
# exercised (a fuzzer whose every case is refused at the first flag tests nothing behind it).

VALID_SPECS = ["cyclic:n=3", "cyclic:n=4", "cyclic:n=2", "skew:n=6,seed=1", "egpo:n=5,seed=2", "hodge:n=6,cyclic=0.7",
               "bt:n=5", "annotators:n=5", "embedding:n=5,dim=2", "contextual:n=3,contexts=4", "openspiel:matrix_rps",
               "cyclic:n=1"]


def sometimes(valid, hostile, p_valid: float = 0.7):
    """Mostly a valid value, sometimes a hostile one."""
    return st.one_of(valid, hostile) if p_valid <= 0.5 else st.sampled_from([True] * 7 + [False] * 3).flatmap(
        lambda ok: valid if ok else hostile)


def games(folder: Path):
    return sometimes(st.sampled_from(VALID_SPECS), st.one_of(game_specs(), matrix_files(folder)))


def refs(folder: Path):
    return sometimes(st.sampled_from(["uniform", "random:seed=0", "random:seed=3,scale=2"]), ref_specs(folder))


def flag(name: str, value: str) -> str:
    return f"{name}={value}"  # `--beta=-1e16`: a negative number must reach nashlab's own validation


@budget(40)
@given(data=st.data())
def test_nash_fuzz(data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        argv = ["nash", flag("--game", data.draw(games(folder), label="game")), "--json"]
        if data.draw(st.booleans(), label="with beta"):
            argv.append(flag("--beta", data.draw(sometimes(st.sampled_from(["0", "0.05", "0.5", "1e-4"]), NUMBERISH),
                                                 label="beta")))
        if data.draw(st.booleans(), label="with ref"):
            argv.append(flag("--ref", data.draw(refs(folder), label="ref")))
        outcome = invoke(argv, limit=30)
        assert_clean(outcome)
        assert not (folder / "PWNED").exists(), "a pickled object in a file was executed"


SOLVER_NAMES = sometimes(st.sampled_from(sorted(SOLVERS)), st.sampled_from(["", "EGPO", "nosuch", "egpo "]))
SOLVE_OPTIONS = {
    "--beta": sometimes(st.sampled_from(["0", "0.01", "0.1", "1"]), NUMBERISH),
    "--eta": sometimes(st.sampled_from(["0.01", "0.1", "0.5"]), NUMBERISH),
    "--seed": sometimes(st.sampled_from(["0", "1", "7"]), NUMBERISH),
    "--feedback": sometimes(st.sampled_from(["exact", "sampled:1", "sampled:16"]),
                            st.sampled_from(["sampled:0", "sampled:-1", "sampled:abc", "sampled:10000000000",
                                             "sampled", "bogus", "sampled:1e3", "sampled:99999999999999999999"])),
    "--init": sometimes(st.sampled_from(["ref", "uniform", "random:seed=0"]),
                        st.sampled_from(["random:seed=-1", "junk", "random:seed=99999999999999999999", "random",
                                         "random:seed=1,x=2"])),
    "--num-players": sometimes(st.sampled_from(["2", "3"]), st.sampled_from(["0", "-1", "1", "50", "x", "1e3"])),
    "--every": sometimes(st.sampled_from(["1", "5"]), st.sampled_from(["0", "-1", "abc", "1e9", "99999999999999"])),
    "--threads": sometimes(st.sampled_from(["1", "2"]), st.sampled_from(["0", "-1", "100000", "x"])),
    "--policy": sometimes(st.sampled_from(["tabular", "mlp"]), st.just("gpt")),
    "--device": sometimes(st.just("cpu"), st.sampled_from(["cuda", "tpu", "cuda:7", ""])),
}


@budget(40)
@given(data=st.data())
def test_solve_fuzz(data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        iters = sometimes(st.sampled_from(["0", "1", "5", "20"]),
                          st.sampled_from(["-3", "1e12", "1000000000000", "abc", "99999999999999999999"]))
        argv = ["solve", flag("--game", data.draw(games(folder), label="game")),
                flag("--solver", data.draw(SOLVER_NAMES, label="solver")), "--json",
                flag("--iters", data.draw(iters, label="iters"))]
        for name in data.draw(st.lists(st.sampled_from(sorted(SOLVE_OPTIONS)), max_size=4, unique=True), label="flags"):
            argv.append(flag(name, data.draw(SOLVE_OPTIONS[name], label=name)))
        if data.draw(st.booleans(), label="with ref"):
            argv.append(flag("--ref", data.draw(refs(folder), label="ref")))
        outcome = invoke(argv, limit=40)
        assert_clean(outcome)
        assert not (folder / "PWNED").exists(), "a pickled object in a file was executed"


# ---- TOML configs: run and llm train ------------------------------------------------------------------------------

BAD_TOML_VALUES = ['"x"', "-1", "0", "nan", "inf", "-inf", "1e300", "9223372036854775807", "[]", '[1, "a"]', "{}",
                   "true", '"cyclic:n=99999999"', '"random:seed=-1"', "0.5", '["exact", "sampled:0"]', "[[1]]",
                   '"sampled:10000000000"', "1000000000000"]
#: Values that are plausible somewhere but extreme: each must be used, or refused in one line.
ODD_TOML_VALUES = ["1", "2", "1e-4", "0.999", "3", '"uniform"', '"exact"', '["exact"]', "[0.0]", "[1e-4]", '"egpo"',
                   '"cyclic:n=2"']


def mutate_toml(text: str, draw) -> str:
    """One attacker's edit of a valid TOML file: none, a value replaced (hostile or merely odd), a key misspelt, a key
    repeated, a table added, or the file cut short."""
    assignments = [m for m in re.finditer(r"^([A-Za-z_][\w-]*)\s*=\s*(.*)$", text, re.M)]
    how = draw(st.sampled_from(["none", "value", "value", "odd-value", "misspell", "table", "truncate", "dup-key"]))
    if how in ("value", "odd-value", "misspell", "dup-key") and assignments:
        # Index from a uniform integer: sampled_from's shrinking would favour the first keys of the file.
        m = assignments[draw(st.integers(0, len(assignments) - 1))]
        if how in ("value", "odd-value"):
            values = BAD_TOML_VALUES if how == "value" else ODD_TOML_VALUES
            return text[: m.start(2)] + draw(st.sampled_from(values)) + text[m.end(2):]
        if how == "misspell":
            return text[: m.start(1)] + m.group(1)[:-1] + text[m.end(1):]
        return text[: m.end()] + "\n" + m.group(0) + text[m.end():]
    if how == "table":
        return text + "\n[" + draw(st.sampled_from(["bogus", "solvers.egp", "model", "sweep.inner"])) + "]\nx = 1\n"
    if how == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    return text


def attacked_config(data, base: str, path: Path) -> Path:
    """``path`` holding ``base`` after one attacker's edit, or an empty file, or random bytes."""
    how = data.draw(st.sampled_from(["mutate", "mutate", "mutate", "empty", "bytes"]), label="config")
    if how == "mutate":
        path.write_text(mutate_toml(base, data.draw))
    else:
        path.write_bytes(b"" if how == "empty" else data.draw(st.binary(min_size=1, max_size=100), label="bytes"))
    return path


def _sweep_base() -> str:
    text = (REPO / "tests/experiments/tiny.toml").read_text()
    text = re.sub(r"^iters = .*$", "iters = 10", text, flags=re.M)
    text = re.sub(r"^seeds = .*$", "seeds = 1", text, flags=re.M)
    return text


@budget(25)
@given(data=st.data())
def test_run_fuzz(data):
    with tempfile.TemporaryDirectory() as tmp:
        config = attacked_config(data, _sweep_base(), Path(tmp) / "sweep.toml")
        argv = ["run", str(config), "--out", str(Path(tmp) / "out"), "--workers", "1", "--no-figs", "--no-progress",
                "--json"]
        assert_clean(invoke(argv, limit=60))


def _llm_base() -> str:
    text = (REPO / "experiments/configs/llm_tiny.toml").read_text()
    for key, value in [("iterations", "1"), ("samples_per_prompt", "2"), ("num_comparisons", "2"), ("epochs", "1"),
                       ("contexts", "2"), ("prompts_per_step", "2"), ("checkpoint_every", "1")]:
        text, count = re.subn(rf"^{key} = [^\n#]*", f"{key} = {value}", text, flags=re.M)
        assert count, key  # a renamed key must not leave the fuzz on the full-size run
    return text


@pytest.mark.slow
@budget(12)
@given(data=st.data())
def test_llm_train_fuzz(data):
    with tempfile.TemporaryDirectory() as tmp:
        config = attacked_config(data, _llm_base(), Path(tmp) / "llm.toml")
        argv = ["llm", "train", "--config", str(config), "--json", "--quiet"]
        if data.draw(st.booleans(), label="with out"):
            argv += ["--out", str(Path(tmp) / "out")]
        assert_clean(invoke(argv, limit=90))


# ---- report and figs on damaged stores ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def store_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("attack-store") / "run"
    config = out.parent / "sweep.toml"
    config.write_text(_sweep_base())
    outcome = invoke(["run", str(config), "--out", str(out), "--workers", "1", "--no-figs", "--no-progress"], 120)
    assert outcome.kind == "ok", outcome.explain()
    return out


@budget(20)
@given(data=st.data())
def test_report_figs_damaged_store_fuzz(store_dir, data):
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(store_dir, run)
        db = run / "results.sqlite"
        for extra in ("results.sqlite-wal", "results.sqlite-shm"):
            (run / extra).unlink(missing_ok=True)
        raw = db.read_bytes()
        damage = data.draw(st.sampled_from(["zero", "truncate", "random", "flip", "missing", "folder", "none"]),
                           label="damage")
        if damage == "zero":
            db.write_bytes(b"")
        elif damage == "truncate":
            db.write_bytes(raw[: data.draw(st.integers(1, len(raw) - 1), label="keep")])
        elif damage == "random":
            db.write_bytes(data.draw(st.binary(min_size=1, max_size=4096), label="bytes"))
        elif damage == "flip":
            buf = bytearray(raw)
            for at in data.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=8), label="offsets"):
                buf[at] ^= 0xFF
            db.write_bytes(bytes(buf))
        elif damage == "missing":
            db.unlink()
        elif damage == "folder":
            db.unlink()
            db.mkdir()
        verb = data.draw(st.sampled_from(["report", "report", "figs"]), label="verb")
        argv = [verb, str(run), "--json"] + (["--workers", "1"] if verb == "figs" else [])
        assert_clean(invoke(argv, limit=90))
