"""The reliability campaign's reproductions, one case each: a refusal is one stderr line with exit 2, never a
traceback, a hang or a message that names the wrong thing.

The deeper checks of each class live beside the code they test (run folders and malicious checkpoints in
``tests/llm_bridge``, store faults and orphans in ``tests/experiments``); this table keeps the campaign's own cases
replayable in one place, through the same harness as the fuzz suite.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from attack_harness import invoke

REPO = Path(__file__).resolve().parents[2]
LLM_TINY = REPO / "experiments/configs/llm_tiny.toml"


def refused(argv, *, says: str | None = None, not_says: str | None = None, limit: float = 30.0):
    outcome = invoke([str(a) for a in argv], limit=limit)
    assert outcome.kind == "refused", outcome.explain()
    line = outcome.err.strip()
    if says is not None:
        assert re.search(says, line), f"{line!r} does not say {says!r}"
    if not_says is not None:
        assert not re.search(not_says, line), f"{line!r} should not say {not_says!r}"
    return line


def small_llm_config(folder: Path, **changes: str) -> Path:
    text = LLM_TINY.read_text()
    defaults = {"iterations": "2", "samples_per_prompt": "2", "num_comparisons": "2", "epochs": "1", "contexts": "2",
                "prompts_per_step": "2", "checkpoint_every": "1"}
    for key, value in {**defaults, **changes}.items():
        text, count = re.subn(rf"^{key} = [^\n#]*", f"{key} = {value}", text, flags=re.M)
        assert count, key
    path = folder / "llm.toml"
    path.write_text(text)
    return path


# ---- stores: corrupt ones refused, a valid one read where it cannot be written -------------------------------------

@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("repro") / "run"
    text = (REPO / "tests/experiments/tiny.toml").read_text()
    config = out.parent / "tiny.toml"
    config.write_text(re.sub(r"^iters = .*$", "iters = 10", text, flags=re.M))
    outcome = invoke(["run", str(config), "--out", str(out), "--workers", "1", "--no-figs", "--no-progress"], 120)
    assert outcome.kind == "ok", outcome.explain()
    return out


@pytest.mark.parametrize("damage", ["zero-bytes", "truncated", "random-bytes"])
@pytest.mark.parametrize("verb", ["report", "figs", "run"])
def test_corrupt_store_is_refused(tmp_path, sweep_dir, damage, verb):
    run = tmp_path / "run"
    run.mkdir()
    raw = (sweep_dir / "results.sqlite").read_bytes()
    data = {"zero-bytes": b"", "truncated": raw[: len(raw) // 3], "random-bytes": os.urandom(8192)}[damage]
    (run / "results.sqlite").write_bytes(data)
    argv = {"report": ["report", run], "figs": ["figs", run, "--workers", "1"],
            "run": ["run", REPO / "tests/experiments/tiny.toml", "--out", run, "--workers", "1", "--no-figs"]}[verb]
    if verb == "run" and damage == "zero-bytes":
        # SQLite reads a 0-byte file as an empty database: a run may start a fresh store in it (nothing is lost).
        outcome = invoke([str(a) for a in argv], limit=60)
        assert outcome.clean, outcome.explain()
        return
    refused(argv, says="results.sqlite")


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_run_out_on_a_file(tmp_path, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    out = blocker if where == "a file" else blocker / "run"
    refused(["run", REPO / "tests/experiments/tiny.toml", "--out", out, "--workers", "1", "--no-figs"],
            says=str(blocker))


# ---- solve and nash -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, says", [
    (["solve", "--game", "cyclic:n=3", "--solver", "egpo", "--threads", "100000"], "--threads"),
    (["solve", "--game", "cyclic:n=3", "--solver", "inpo", "--beta", "0"], "beta"),
    (["solve", "--game", "cyclic:n=3", "--solver", "nash-md", "--beta", "0"], "beta"),
    (["solve", "--game", "cyclic:n=3", "--solver", "egpo", "--init", "random:seed=-1"], "seed"),
    (["solve", "--game", "cyclic:n=3", "--solver", "egpo", "--seed", "99999999999999999999"], "--seed"),
    (["solve", "--game", "cyclic:n=3", "--solver", "egpo", "--iters", "1000000000000"], "--iters"),
    (["nash", "--game", "cyclic:n=3", "--ref", "random:seed=0,scale=1e6"], "scale"),
])
def test_solve_nash_refusals(argv, says):
    refused(argv, says=says)


def test_huge_sample_count_is_answered_or_refused():
    outcome = invoke(["solve", "--game", "cyclic:n=3", "--solver", "egpo", "--beta", "0.1", "--iters", "3",
                      "--feedback", "sampled:10000000000", "--json"], limit=30)
    assert outcome.clean, outcome.explain()
    if outcome.kind == "refused":
        assert "sampled" in outcome.err


def test_random_bytes_npy_names_no_foreign_option(tmp_path):
    path = tmp_path / "junk.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }" + b" " * 60
                     + b"\n" + os.urandom(64))
    refused(["nash", "--game", path], says=str(path), not_says="allow_pickle")


def test_negative_ref_names_the_path_once(tmp_path):
    path = tmp_path / "ref.npy"
    np.save(path, np.array([0.5, 0.7, -0.2]))
    line = refused(["nash", "--game", "cyclic:n=3", "--ref", path])
    assert line.count(str(path)) == 1, line


def test_non_unique_equilibrium_is_not_a_vertex_kl():
    """On cyclic:n=2 every policy is an equilibrium: KL to an arbitrary LP vertex (log 2) is not a distance to it."""
    outcome = invoke(["solve", "--game", "cyclic:n=2", "--solver", "mwu", "--iters", "5", "--json"])
    assert outcome.kind == "ok", outcome.explain()
    import json

    final = json.loads(outcome.out.strip().splitlines()[-1])["final"]
    assert final["duality_gap"] <= 1e-12
    assert final["kl_to_nash"] is None or final["kl_to_nash"] <= 1e-12, final


def test_help_has_no_rst_markup():
    for verb in ["run", "solve", "nash", "games", "report", "figs", "bench"]:
        outcome = invoke([verb, "--help"])
        assert outcome.code == 0 and "``" not in outcome.out, (verb, outcome.out[:400])


# ---- LLM runs -----------------------------------------------------------------------------------------------------

def test_llm_out_on_a_file(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    refused(["llm", "train", "--config", small_llm_config(tmp_path), "--out", blocker], says=str(blocker))


def test_llm_hidden_zero(tmp_path):
    config = small_llm_config(tmp_path)
    config.write_text(config.read_text().replace("hidden = 64", "hidden = 0"))
    refused(["llm", "train", "--config", config], says="hidden")


def test_llm_config_folder_is_called_a_folder(tmp_path):
    refused(["llm", "train", "--config", tmp_path], says="(folder|directory)", not_says="not found")


@pytest.mark.parametrize("verb", ["run", "llm"])
def test_non_utf8_toml_names_the_file(tmp_path, verb):
    config = tmp_path / "bad.toml"
    config.write_bytes(b"[sweep]\niters = \xff\xfe\n")
    argv = ["run", config, "--out", tmp_path / "o"] if verb == "run" else ["llm", "train", "--config", config]
    refused(argv, says=str(config))


def test_empty_configs_behave_alike(tmp_path):
    config = tmp_path / "empty.toml"
    config.write_text("")
    refused(["run", config, "--out", tmp_path / "o"])
    refused(["llm", "train", "--config", config])


def test_llm_without_subcommand_is_usage_on_stderr():
    outcome = invoke(["llm"])
    assert outcome.code == 2 and outcome.out == "" and "usage" in outcome.err.lower(), outcome.explain()


def test_llm_help_describes_out():
    for argv in (["llm", "--help"], ["llm", "train", "--help"]):
        outcome = invoke(argv)
        assert outcome.code == 0
        body = outcome.out.split("options:")[0]
        assert len(body.strip().splitlines()) >= 3, outcome.out  # a description, not the bare usage line
    assert "--overwrite" in outcome.out and "checkpoint" in outcome.out


def test_a_store_row_that_is_not_utf8_is_refused_in_one_line(tmp_path, sweep_dir):
    """Found by the campaign: SQLite's decode error quotes the damaged text, newlines and all."""
    import shutil
    import sqlite3

    run = tmp_path / "run"
    shutil.copytree(sweep_dir, run)
    with sqlite3.connect(run / "results.sqlite") as con:
        con.execute("UPDATE meta SET value = CAST(X'5b73776565705d0a69746572730aff0a' AS TEXT)")
    refused(["report", run, "--json"], says="results.sqlite")
