"""``nashlab solve``: the JSON contract on the last stdout line, refusals with one line and exit 2."""

import json

import pytest

from nashlab.experiments.cli import main


def _last_json(capsys):
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_solve_json_contract(capsys):
    rc = main(["solve", "--game", "egpo:n=10,seed=3", "--ref", "random:seed=3", "--solver", "egpo", "--beta", "0.01",
               "--eta", "0.8", "--iters", "1000", "--every", "100", "--json"])
    assert rc == 0
    d = _last_json(capsys)
    assert set(d) >= {"policy", "final", "trace", "solver", "hparams", "queries"}
    assert len(d["policy"]) == 10 and abs(sum(d["policy"]) - 1) < 1e-12
    assert d["final"]["reg_duality_gap"] <= 1e-6  # the acceptance bar for EGPO-simulation games
    assert d["trace"]["iteration"] == list(range(0, 1001, 100))
    assert d["hparams"] == {**d["hparams"], "eta": 0.8, "beta": 0.01, "iters": 1000}


def test_solve_multiplayer_json(capsys):
    rc = main(["solve", "--game", "cyclic:n=5", "--solver", "mnpo", "--players", "4", "--init", "random:seed=1",
               "--iters", "20", "--json"])
    assert rc == 0
    d = _last_json(capsys)
    assert len(d["policy"]) == 4 and "multiplayer_duality_gap" in d["final"]


@pytest.mark.parametrize("argv,needle", [
    (["--solver", "nope"], "unknown solver"),
    (["--solver", "egpo", "--eta", "5"], "eta"),
    (["--solver", "egpo", "--feedback", "sampled:x"], "sampled:M"),
    (["--solver", "egpo", "--init", "bogus"], "init"),
    (["--solver", "egpo", "--ref", "bogus"], "reference"),
    (["--solver", "egpo", "--policy", "mlp"], "ContextualGame"),
    (["--solver", "mmd", "--beta", "0"], "beta"),
])
def test_solve_refuses_bad_arguments(capsys, argv, needle):
    rc = main(["solve", "--game", "cyclic:n=3", "--iters", "2"] + argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and needle in err[0] and "Traceback" not in err[0]
