"""The README's own-rule walkthrough runs as written (declare → verify → sweep → train), and the README's solvers
table is the one ``nashlab solvers --markdown`` derives from the declarations."""

import json
import os
import re
import shlex

import pytest

from nashlab.experiments.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()


def walkthrough() -> list[str]:
    block = README.split("<!-- own-rule walkthrough", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines() if line.strip().startswith("nashlab ")]


def test_walkthrough_runs_as_written(tmp_path, monkeypatch, capsys):
    """Every line, from the repository root; the run folder goes to a temporary directory instead of ./runs."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NASHLAB_CACHE_DIR", str(tmp_path / "cache"))
    lines = walkthrough()
    assert [shlex.split(x)[1] for x in lines] == ["solvers", "verify", "solve", "run", "report", "llm"]
    for line in lines:
        argv = [a.replace("runs/", f"{tmp_path}/runs/") for a in shlex.split(line)[1:]]
        if argv[0] == "run":
            argv.append("--no-progress")
        if argv[0] == "llm":
            argv.append("--quiet")
        assert main(argv) == 0, line
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["verification"]["passed"] is True and summary["verification"]["unverified"] is False
    assert summary["final_duality_gap"] <= summary["initial_duality_gap"] / 2  # the language game's gap halves


def test_a_config_naming_a_rule_file_is_refused_without_trust(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert main(["run", "experiments/examples/rules/optimistic_inpo_sweep.toml", "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--trust-rule-files" in err[0]


def test_readme_solvers_table_is_derived_from_the_declarations(capsys):
    table = README.split("<!-- solvers table: nashlab solvers --markdown -->", 1)[1].split("<!-- end solvers", 1)[0]
    assert main(["solvers", "--markdown"]) == 0
    assert table.strip() == capsys.readouterr().out.strip(), "regenerate it: nashlab solvers --markdown"
    from nashlab.solvers import RULES

    assert re.findall(r"^\| `([^`]+)` \|", table, flags=re.M) == list(RULES)
