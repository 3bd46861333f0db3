"""``nashlab nash`` and ``nashlab games``: answers, JSON contract, and clean refusal of every bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from nashlab.experiments import cli
from nashlab.games import duality_gap, make_matrix, reg_duality_gap, regularized_nash


def run_cli(capsys, *argv):
    code = cli.main(["nash", *argv]) if argv and argv[0] != "games" else cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_exact_json(capsys):
    code, out, err = run_cli(capsys, "--game", "cyclic:n=5", "--json")
    assert code == 0 and err == ""
    res = last_json(out)
    np.testing.assert_allclose(res["policy"], np.full(5, 0.2), atol=1e-12)
    assert res["duality_gap"] <= 1e-12 and res["support"] == [0, 1, 2, 3, 4] and res["value"] == 0.5
    assert "reg_duality_gap" not in res and res["beta"] == 0.0


def test_regularised_json_matches_library(capsys, tmp_path):
    P = make_matrix("egpo", n=12, seed=4)
    path = tmp_path / "m.npy"
    np.save(path, P)
    code, out, _ = run_cli(capsys, "--game", str(path), "--beta", "0.05", "--ref", "random:seed=2", "--json")
    assert code == 0
    res = last_json(out)
    z = np.random.default_rng(2).normal(size=12)
    ref = np.exp(z) / np.exp(z).sum()
    pi = np.array(res["policy"])
    np.testing.assert_allclose(pi, regularized_nash(P, pi_ref=ref, beta=0.05), atol=1e-14)
    assert res["reg_duality_gap"] <= 1e-12 and res["fixed_point_residual"] <= 1e-12
    assert res["duality_gap"] == pytest.approx(duality_gap(P, pi), abs=1e-15)
    assert duality_gap(P, np.array(res["nash_policy"])) <= 1e-9 and res["nash_duality_gap"] <= 1e-9
    assert reg_duality_gap(P, pi, ref, 0.05) <= 1e-12


def test_text_output(capsys):
    code, out, _ = run_cli(capsys, "--game", "egpo:n=8,seed=1", "--beta", "0.1")
    assert code == 0
    assert "regularised Nash π*_β" in out and "DG_β" in out and "support" in out
    code, out, _ = run_cli(capsys, "--game", "openspiel:matrix_rps")
    assert code == 0 and "0.3333333333" in out and "duality gap DG_0" in out


def test_contextual_and_batch(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "--game", "contextual:n=4,contexts=3", "--beta", "0.1", "--json")
    assert code == 0
    res = last_json(out)
    assert res["batch_shape"] == [3] and np.array(res["policy"]).shape == (3, 4)
    assert len(res["reg_duality_gap"]) == 3 and max(res["reg_duality_gap"]) <= 1e-12
    assert res["ref"] == "game"  # the contextual game's own per-context reference
    code, out, _ = run_cli(capsys, "--game", "contextual:n=4,contexts=3")
    assert code == 0 and "max DG_0 over the batch" in out
    np.save(tmp_path / "b.npy", np.stack([make_matrix("skew", n=5, seed=s) for s in range(2)]))
    res = last_json(run_cli(capsys, "--game", str(tmp_path / "b.npy"), "--json")[1])
    assert max(res["duality_gap"]) <= 1e-9 and len(res["support"]) == 2


def test_games_listing(capsys):
    code, out, _ = run_cli(capsys, "games")
    assert code == 0
    for name in ("cyclic", "skew", "egpo", "hodge", "bt", "annotators", "embedding", "contextual", "matrix_rps"):
        assert name in out
    code, out, _ = run_cli(capsys, "games", "--json")
    res = last_json(out)
    names = [g["name"] for g in res["generators"]]
    assert names == ["cyclic", "skew", "egpo", "hodge", "bt", "annotators", "embedding"]
    assert res["generators"][0]["params"] == {"n": 3, "margin": 1.0}
    assert all(g["summary"] for g in res["generators"])


def _bad_files(tmp_path):
    np.save(tmp_path / "notskew.npy", np.ones((3, 3)))
    np.save(tmp_path / "ref2.npy", np.array([0.5, 0.5]))
    (tmp_path / "bad.json").write_text("[[0.5, ")
    (tmp_path / "bad.csv").write_text("0.5,x\n")
    (tmp_path / "corrupt.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    (tmp_path / "random.npy").write_bytes(np.random.default_rng(0).bytes(200))
    (tmp_path / "neg.csv").write_text("0.5,-0.2,0.7\n")
    return tmp_path


BAD = [
    (["--game", "{d}/notskew.npy"], "P + Pᵀ must equal 1"),
    (["--game", "{d}/bad.json"], "malformed JSON"),
    (["--game", "{d}/bad.csv"], "could not convert"),
    (["--game", "{d}/corrupt.npy"], "could not read"),
    (["--game", "{d}/missing.npy"], "no such file"),
    (["--game", "nope:n=3"], "unknown game 'nope'"),
    (["--game", "cyclic:n=3,foo=2"], "unknown parameter(s) foo"),
    (["--game", "cyclic:n=abc"], "must be an integer"),
    (["--game", "cyclic", "--beta", "-1"], "--beta must be a finite number ≥ 0"),
    (["--game", "cyclic", "--beta", "nan"], "--beta must be a finite number ≥ 0"),
    (["--game", "cyclic", "--beta", "inf"], "--beta must be a finite number ≥ 0"),
    (["--game", "egpo", "--beta", "1e-12"], "needs beta ≥ 1e-08"),
    (["--game", "cyclic", "--ref", "bogus"], "unknown reference policy"),
    (["--game", "cyclic", "--ref", "{d}/ref2.npy"], "must have length 3"),
    (["--game", "cyclic", "--ref", "random:seed=x"], "must be an integer"),
    (["--game", "openspiel:matrix_pd"], "not constant-sum"),
    (["--game", "openspiel:nope"], "unknown OpenSpiel game"),
    (["--game", "{d}/random.npy"], "random.npy as a .npy matrix: not a .npy file (no NumPy header)"),
    (["--game", "cyclic", "--ref", "random:seed=0,scale=1e6"], "scale=1e+06 of 'random' is too large"),
    (["--game", "cyclic", "--ref", "{d}/neg.csv"], "neg.csv: pi_ref must be non-negative; pi_ref(1) = -0.2"),
    (["--game", "cyclic", "--ref", "random:seed=-1"], "parameter seed of 'random' must be an integer in [0, 2**63)"),
    (["--game", "egpo:seed=99999999999999999999"], "parameter seed of 'egpo' must be an integer in [0, 2**63)"),
    (["--game", "cyclic", "--bootstrap-seed", "99999999999999999999"], "--bootstrap-seed must be an integer in [0, 2"),
    (["--game", "cyclic", "--bootstrap-seed", "-1"], "--bootstrap-seed must be an integer in [0, 2**63)"),
]


@pytest.mark.parametrize("argv,message", BAD)
def test_bad_input_refused_in_one_line(capsys, tmp_path, argv, message):
    d = _bad_files(tmp_path)
    code, out, err = run_cli(capsys, *[a.format(d=d) for a in argv])
    assert code == cli.EXIT_BAD_INPUT
    assert err.startswith("nashlab nash: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "allow_pickle" not in err and err.count(str(d)) <= 1  # no option nashlab lacks; a path named once
    assert out == ""


def test_argparse_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["nash", "--game", "cyclic", "--beta", "abc"])
    assert exc.value.code == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "invalid float value: 'abc'" in err and err.count("\n") == 1


def test_subprocess_refusal_has_no_traceback(tmp_path):
    """The real process, as a user sees it: exit status 2 and one line on stderr (one subprocess: ~3 s of imports)."""
    d = _bad_files(tmp_path)
    bad = subprocess.run([sys.executable, "-m", "nashlab.experiments.cli", "nash", "--game", f"{d}/notskew.npy"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1 and "P + Pᵀ must equal 1" in bad.stderr


def test_non_unique_equilibrium_is_reported(capsys):
    """cyclic:n=2 (P = ½ everywhere): every policy is an equilibrium; cyclic:n=4 (ties between opposite actions):
    a segment of them; cyclic:n=5: one."""
    code, out, err = run_cli(capsys, "--game", "cyclic:n=2")
    assert code == 0 and "not unique" in out and "dimension 1" in out and err == ""
    code, out, err = run_cli(capsys, "--game", "cyclic:n=4", "--json")
    assert code == 0 and last_json(out)["nash_unique"] is False
    assert err.count("\n") == 1 and "more than one equilibrium" in err
    code, out, err = run_cli(capsys, "--game", "cyclic:n=5", "--json")
    assert last_json(out)["nash_unique"] is True and err == ""
    code, out, err = run_cli(capsys, "--game", "cyclic:n=2", "--beta", "0.1", "--json")
    assert last_json(out)["nash_unique"] is True  # π*_β is always unique


@pytest.mark.parametrize("command", [[], ["solve"], ["nash"], ["games"], ["run"], ["report"], ["figs"], ["bench"],
                                     ["llm"], ["llm", "train"]])
def test_help_is_plain_text(capsys, command):
    """Descriptions come from reST docstrings; cli strips the markup for every command (``x`` showed literally)."""
    with pytest.raises(SystemExit):
        cli.main([*command, "--help"])
    out = capsys.readouterr().out
    assert "``" not in out and ":func:" not in out and ":mod:" not in out and "::" not in out


def test_shipped_example_matrix_runs_as_the_readme_says(capsys, monkeypatch):
    """The README's `nashlab nash --game experiments/examples/preferences.csv`, from the repository root."""
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    code, out, err = run_cli(capsys, "--game", "experiments/examples/preferences.csv", "--json")
    res = last_json(out)
    assert code == 0 and err == "" and res["support"] == [0, 1, 3] and res["nash_unique"] is True
    np.testing.assert_allclose(res["policy"], [4 / 9, 1 / 3, 0, 2 / 9, 0], atol=1e-9)  # as its header says
