"""``nashlab verify`` on every registered rule (each passes at its defaults, with the behaviours the issue names at
β = 0.01) and on mutants of them, each of which a named check must catch first."""

import dataclasses
import json
import os

import pytest

from nashlab.experiments.cli import main
from nashlab.solvers import RULES, Claim, Phase, anchor, opponent
from nashlab.solvers import verify as V
from nashlab.solvers.core import mirror_loss

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "experiments", "examples", "rules", "optimistic_inpo.py")


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_rule_passes_at_its_defaults(name):
    report = V.verify(name, llm=False)
    assert report["passed"], V.first_failure(report)
    assert report["seconds"] < 120  # generous: the bar is 60 s on 2 cores; measured 0.3-11 s


#: The behaviour each rule shows at β = 0.01 (mwu and sppo play the β = 0 game, their β is recorded only).
BEHAVIOUR_AT_001 = {"egpo": "converges", "nash-mp": "converges", "inpo": "converges", "mmd": "converges",
                    "td-mnpo": "converges", "nash-md": "biased floor", "mwu": "average only", "sppo": "average only"}


@pytest.mark.parametrize("name", sorted(BEHAVIOUR_AT_001))
def test_behaviour_at_beta_001(name):
    beta = 0.0 if not RULES[name].beta_used else 0.01
    report = V.verify(name, beta=beta, llm=False)
    assert report["behaviour"] == BEHAVIOUR_AT_001[name]
    assert report["passed"], V.first_failure(report)


def _inpo_like(**changes):
    return dataclasses.replace(RULES["inpo"], name="mutant", **changes)


def _scaled_target_loss(loss, y, yp, ay, ayp, target, reduction):
    return mirror_loss(y, yp, loss.anchor(ay), loss.anchor(ayp), 2.0 * target, loss.c, reduction=reduction)


MUTANTS = {
    # (1−2ηβ)ℓ + 2ηβ ℓ_ref: the weights still sum to 1, but the fixed point is π*_{2β}, and at INPO's η limit
    # (ηβ = 1) the anchor is no longer a convex combination
    "wrong anchor weight": (_inpo_like(phases=(Phase(
        anchors=(anchor("iterate", lambda hp: 1 - 2 * hp["eta"] * hp["beta"]),
                 anchor("ref", lambda hp: 2 * hp["eta"] * hp["beta"])),
        step=lambda hp: hp["eta"], opponents=(opponent("iterate"),)),)), "conformance.anchor-weights"),
    # EGPO whose second phase takes the win rate of π_t instead of π_½
    "wrong opponent": (dataclasses.replace(RULES["egpo"], name="mutant", phases=(
        RULES["egpo"].phases[0], dataclasses.replace(RULES["egpo"].phases[1], opponents=(opponent("iterate"),)))),
        "claim"),
    # INPO stepping against the win rate
    "flipped sign": (_inpo_like(phases=(dataclasses.replace(RULES["inpo"].phases[0], step=lambda hp: -hp["eta"]),)),
                     "claim"),
    # a hand-written loss whose target is twice the declared one
    "loss off by a factor": (_inpo_like(loss_override=_scaled_target_loss), "loss-step"),
    # Hedge declaring a linear last-iterate rate
    "MWU claiming linear": (dataclasses.replace(RULES["mwu"], name="mutant", claim=Claim(
        "linear", "KL(π*‖π_t) ≤ 0.99^t KL(π*‖π_0)", rate=lambda hp: 0.99)), "claim"),
    # MMD with η ≤ 40β instead of 4β
    "eta limit too loose": (dataclasses.replace(RULES["mmd"], name="mutant", eta_max=lambda hp: 40 * hp["beta"]),
                            "claim.eta-limit"),
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_mutant_is_caught_by_the_named_check(mutant):
    rule, check = MUTANTS[mutant]
    report = V.verify(rule, llm=False)
    assert not report["passed"]
    assert V.first_failure(report)["name"] == check, V.first_failure(report)
    if mutant == "wrong anchor weight":  # and the claim fails too: it converges, but to π*_{2β}
        assert next(c for c in report["checks"] if c["name"] == "claim")["passed"] is False


def test_cli_json_report_and_exit_status(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NASHLAB_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["verify", "nash-mp", "--json", "--out", str(tmp_path / "out")]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1],
                     parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert {"rule", "hparams", "fingerprint", "passed", "behaviour", "checks"} <= set(doc)
    assert doc["passed"] is True and doc["behaviour"] == "converges"
    assert all({"name", "passed", "measured", "threshold", "detail"} <= set(c) for c in doc["checks"])
    from nashlab.experiments.json_output import check_document

    assert check_document(doc, "verify") == []
    assert main(["solvers", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert check_document(rows, "solvers") == [] and len(rows["rules"]) == 10
    # schema 2: "multiplayer" says whether a rule plays an N-player game (declares a player axis); TD-MNPO takes
    # num_players only for its history length, and is two-player
    from nashlab.solvers.registry import RULES

    assert {r["name"]: r["multiplayer"] for r in rows["rules"]} == {n: r.players is not None for n, r in RULES.items()}
    assert [r["name"] for r in rows["rules"] if r["multiplayer"]] == ["mnpo"]
    assert json.load(open(tmp_path / "out" / "verification.json"))["fingerprint"] == doc["fingerprint"]
    # the second run is read from the cache by fingerprint
    assert main(["verify", "nash-mp", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["cached"] is True


def test_cli_failure_is_one_line_naming_the_check(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NASHLAB_CACHE_DIR", str(tmp_path / "cache"))
    bad = tmp_path / "bad_rule.py"
    bad.write_text("from nashlab.solvers import RULES\nimport dataclasses\n"
                   "BAD = dataclasses.replace(RULES['mmd'], name='bad', eta_max=lambda hp: 40 * hp['beta'])\n")
    assert main(["verify", f"{bad}:BAD"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "failed check claim.eta-limit" in err[0]


def test_cli_refuses_a_file_without_the_rule(tmp_path, capsys):
    f = tmp_path / "r.py"
    f.write_text("X = 1\n")
    assert main(["verify", f"{f}:NOPE"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no Rule named NOPE" in err[0]


def test_example_rule_passes():
    report = V.verify(f"{EXAMPLE}:OPTIMISTIC_INPO", llm=False)
    assert report["passed"] and report["behaviour"] == "converges"


def test_default_eta_above_the_limit_becomes_the_limit():
    """MMD's default η = 0.4 exceeds its limit 4β at β = 0.01: verify checks it at the limit, 0.04."""
    assert V.resolve_hparams(RULES["mmd"], beta=0.01)["eta"] == pytest.approx(0.04)
    assert V.resolve_hparams(RULES["mmd"])["eta"] == 0.4
