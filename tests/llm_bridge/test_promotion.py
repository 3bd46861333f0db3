"""Promotion to LLM training: ``nashlab llm train`` verifies the rule at the run's hyper-parameters first, refuses
a rule that fails (exit 2, one line naming the check) unless ``--unverified``, records the verification in the run
folder and in ``--json``, and trains any verified rule with no per-rule code (OMWU halves the language game's gap)."""

import json
import os

from nashlab.experiments.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "experiments", "configs", "llm_tiny.toml")
#: MMD with an η limit ten times too loose: nashlab verify's claim at the η limit fails.
BAD_RULE = """import dataclasses
from nashlab.solvers import RULES
LOOSE_MMD = dataclasses.replace(RULES["mmd"], name="loose-mmd", eta_max=lambda hp: 40 * hp["beta"])
"""


def _last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def test_omwu_trains_as_an_llm_loss_and_halves_the_gap(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NASHLAB_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["llm", "train", "--config", TINY, "--solver", "omwu", "--json", "--quiet"]) == 0
    d = _last_json(capsys.readouterr().out)
    assert d["solver"] == "omwu" and d["hparams"]["eta"] == 0.125 and d["iterations"] == 80
    from nashlab.experiments.json_output import check_document

    assert check_document(d, "llm train") == []
    assert d["verification"]["passed"] is True
    assert d["final_duality_gap"] <= 0.5 * d["initial_duality_gap"], d


def test_failing_rule_is_refused_then_accepted_with_unverified(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NASHLAB_CACHE_DIR", str(tmp_path / "cache"))
    rule = tmp_path / "loose.py"
    rule.write_text(BAD_RULE)
    base = ["llm", "train", "--config", TINY, "--solver", f"{rule}:LOOSE_MMD", "--iterations", "1", "--quiet"]
    assert main(base + ["--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "failed nashlab verify" in err[0] and "check claim" in err[0]  # at the run's η = 1
    assert "--unverified" in err[0]
    out = tmp_path / "run"
    assert main(base + ["--json", "--unverified", "--out", str(out)]) == 0
    d = _last_json(capsys.readouterr().out)
    assert d["verification"]["passed"] is False and d["verification"]["unverified"] is True
    stored = json.load(open(out / "verification.json"))
    assert stored["unverified"] is True and stored["fingerprint"] == d["verification"]["fingerprint"]


def test_second_run_reads_the_cached_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NASHLAB_CACHE_DIR", str(tmp_path / "cache"))
    args = ["llm", "train", "--config", TINY, "--solver", "mwu", "--iterations", "1", "--json", "--quiet"]
    assert main(args) == 0
    first = _last_json(capsys.readouterr().out)["verification"]["fingerprint"]
    assert len(os.listdir(tmp_path / "cache" / "verify")) == 1
    assert main(args) == 0
    assert _last_json(capsys.readouterr().out)["verification"]["fingerprint"] == first
    assert len(os.listdir(tmp_path / "cache" / "verify")) == 1


def test_config_naming_a_rule_file_needs_trust(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NASHLAB_CACHE_DIR", str(tmp_path / "cache"))
    cfg = tmp_path / "cfg.toml"
    text = open(TINY, encoding="utf-8").read().replace(
        'solver = "inpo"', f'solver = "{ROOT}/experiments/examples/rules/optimistic_inpo.py:OPTIMISTIC_INPO"')
    cfg.write_text(text)
    assert main(["llm", "train", "--config", str(cfg), "--iterations", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--trust-rule-files" in err[0]
    assert main(["llm", "train", "--config", str(cfg), "--iterations", "1", "--quiet", "--trust-rule-files"]) == 0
