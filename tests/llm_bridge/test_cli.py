"""`nashlab llm train`: the shipped tiny config halves the duality gap (inpo here; all five solvers are recorded in
the notes), the --json contract, resume through the CLI, and one-line errors."""

import json
import os

import pytest

from nashlab.experiments.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "experiments", "configs", "llm_tiny.toml")


def _last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def test_tiny_config_halves_the_gap(capsys):
    assert main(["llm", "train", "--config", TINY, "--solver", "inpo", "--json", "--quiet"]) == 0
    d = _last_json(capsys.readouterr().out)
    assert {"initial_duality_gap", "final_duality_gap", "iterations", "tokens_per_second"} <= set(d)
    assert d["iterations"] == 30 and d["solver"] == "inpo"
    assert d["final_duality_gap"] <= 0.5 * d["initial_duality_gap"], d
    assert d["tokens_per_second"] > 0
    phases = d["phase_seconds"]
    assert set(phases) == {"generation", "scoring", "judging", "optimisation", "evaluation"}
    assert d["seconds_per_iteration"] > 0 and all(v >= 0 for v in phases.values())
    assert sum(v for k, v in phases.items() if k != "evaluation") <= d["seconds_per_iteration"] + 1e-9


def test_resume_through_the_cli(tmp_path, capsys):
    out = str(tmp_path / "run")
    args = ["llm", "train", "--config", TINY, "--solver", "nash-mp", "--out", out, "--json", "--quiet"]
    assert main(args + ["--iterations", "3"]) == 0
    full = _last_json(capsys.readouterr().out)
    assert os.path.isfile(os.path.join(out, "checkpoint", "model.safetensors"))
    assert os.path.isfile(os.path.join(out, "metrics.csv"))
    # resuming a finished run does no more work and reports the same result
    assert main(args + ["--iterations", "3", "--resume"]) == 0
    again = _last_json(capsys.readouterr().out)
    assert again["final_duality_gap"] == full["final_duality_gap"] and again["iterations"] == 3


@pytest.mark.parametrize("extra,match", [
    (["--config", "/nonexistent.toml"], "not found"),
    (["--config", TINY, "--solver", "nope"], "unknown solver"),
    (["--config", TINY, "--resume"], "--resume needs --out"),
])
def test_errors_are_one_line(capsys, extra, match):
    assert main(["llm", "train", "--quiet"] + extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


def test_unknown_config_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nsize = 3\n")
    assert main(["llm", "train", "--config", str(bad)]) == 2
    assert "unknown key 'model.size'" in capsys.readouterr().err
