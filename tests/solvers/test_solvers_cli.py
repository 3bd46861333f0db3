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


@pytest.mark.parametrize("flag", ["--num-players", "--players"])
def test_solve_multiplayer_json(capsys, flag):
    """``--num-players`` (the one name of the player count) and its old spelling ``--players``, which still works and
    says once on stderr that it is deprecated."""
    rc = main(["solve", "--game", "cyclic:n=5", "--solver", "mnpo", flag, "4", "--init", "random:seed=1",
               "--iters", "20", "--json"])
    assert rc == 0
    out = capsys.readouterr()
    d = json.loads(out.out.strip().splitlines()[-1])
    assert len(d["policy"]) == 4 and "multiplayer_duality_gap" in d["final"]
    deprecated = [ln for ln in out.err.splitlines() if "deprecated" in ln]
    assert deprecated == ([] if flag == "--num-players" else ["nashlab: --players is deprecated; use --num-players"])


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


@pytest.mark.parametrize("argv,needle", [
    (["--solver", "mwu", "--threads", "100000"], "--threads must be an integer in [1, "),
    (["--solver", "mwu", "--threads", "0"], "--threads"),
    (["--solver", "mwu", "--iters", "1e12"], "--iters must be an integer in [0, 10,000,000]"),
    (["--solver", "mwu", "--iters", "1000000000000"], "--iters"),
    (["--solver", "mwu", "--iters", "-1"], "--iters"),
    (["--solver", "mwu", "--every", "0"], "--every"),
    (["--solver", "mwu", "--seed", "-1"], "--seed must be an integer in [0, 2**63)"),
    (["--solver", "mwu", "--seed", "99999999999999999999"], "--seed must be an integer in [0, 2**63)"),
    (["--solver", "mwu", "--init", "random:seed=-1"], "seed of init 'random:seed=-1' must be an integer in [0, 2**63)"),
    (["--solver", "mwu", "--init", "random:seed=99999999999999999999"], "must be an integer in [0, 2**63)"),
    (["--solver", "mwu", "--feedback", "sampled:99999999999999999999"], "sampled:M"),
    (["--solver", "inpo", "--beta", "0"], "beta must be a finite number > 0"),
    (["--solver", "nash-md", "--beta", "0"], "beta must be a finite number > 0"),
    (["--solver", "inpo"], "the game, whose β is 0: pass beta"),
    (["--solver", "mmd"], "the game, whose β is 0: pass beta"),
])
def test_solve_refuses_out_of_range_values_in_one_line(capsys, argv, needle):
    rc = main(["solve", "--game", "cyclic:n=3", "--iters", "2"] + argv)
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert rc == 2 and captured.out == ""
    assert len(err) == 1 and needle in err[0], err


def test_huge_sampled_feedback_runs_in_constant_memory(capsys):
    """sampled:1e10 draws each action's win count as one Binomial, not 1e10 Bernoullis (was a 240 GB allocation)."""
    rc = main(["solve", "--game", "egpo:n=4,seed=1", "--solver", "egpo", "--beta", "0.1", "--iters", "3",
               "--feedback", "sampled:10000000000", "--json"])
    d = _last_json(capsys)
    assert rc == 0 and d["queries"] == 3 * 2 * 4 * 10**10  # EGPO: two feedback calls per step, n·M each


def test_iteration_counts_accept_integral_scientific_notation(capsys):
    rc = main(["solve", "--game", "cyclic:n=3", "--solver", "mwu", "--iters", "2e1", "--every", "1e1", "--json"])
    assert rc == 0 and _last_json(capsys)["trace"]["iteration"] == [0, 10, 20]


def test_trace_is_bounded_and_keeps_first_and_last():
    from nashlab.games import make_matrix, PreferenceGame
    from nashlab.solvers import solve
    from nashlab.solvers.solve import MAX_TRACE_POINTS, record_every

    assert record_every(1000, 10) == 10 and record_every(10**7, 1) == 10**4 and record_every(5001, 3) == 6
    res = solve(PreferenceGame(make_matrix("cyclic", n=3)), "mwu", iters=4321, every=1)
    it = res.trace["iteration"]
    assert it[0] == 0 and it[-1] == 4321 and len(it) <= MAX_TRACE_POINTS + 2
    stride = record_every(4321, 1)
    assert stride == 5 and it[1:-1] == list(range(stride, 4321, stride))
    assert all(len(v) == len(it) for v in res.trace.values())


def test_progress_lines_without_a_terminal(capsys, monkeypatch):
    """stderr is not a terminal under pytest: progress comes as plain lines (here one per step), not a tqdm bar."""
    import importlib

    from nashlab.games import PreferenceGame, make_matrix
    from nashlab.solvers import solve

    monkeypatch.setattr(importlib.import_module("nashlab.solvers.solve"), "PROGRESS_EVERY_S", 0.0)
    solve(PreferenceGame(make_matrix("cyclic", n=3)), "mwu", iters=3, progress=True)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"mwu: {t:,}/3 iterations ({100 * t / 3:.0f} %), 0 s elapsed, ~0 s left" for t in (1, 2, 3)]


def test_batched_metrics_are_summarised_in_text_and_listed_in_json(capsys):
    argv = ["solve", "--game", "contextual:n=3,contexts=8,seed=1", "--solver", "egpo", "--beta", "0.1", "--iters", "5"]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    gap = next(line for line in out if line.strip().startswith("reg_duality_gap"))
    assert "mean" in gap and "worst" in gap and "(context " in gap and "[" not in gap
    assert len(out) == 1 + 6 + 2  # header, 6 metrics, queries, samples: one line each
    assert main(argv + ["--json"]) == 0
    assert len(_last_json(capsys)["final"]["reg_duality_gap"]) == 8


def test_sigterm_stops_a_long_solve_with_one_line():
    import os
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "nashlab.experiments.cli", "solve", "--game", "cyclic:n=3",
                             "--solver", "mwu", "--iters", "10000000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until nashlab's SIGTERM handler is installed (Linux: SigCgt bit 15)
        with open(f"/proc/{proc.pid}/status") as fh:
            caught = int(next(line for line in fh if line.startswith("SigCgt:")).split()[1], 16)
        if caught >> (signal.SIGTERM - 1) & 1:
            break
        time.sleep(0.05)
    time.sleep(1.0)  # into the imports or the loop: either must stop cleanly (10 million steps take minutes)
    os.kill(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    lines = [line for line in err.splitlines() if "iterations (" not in line]  # progress lines may precede
    assert proc.returncode == 128 + signal.SIGTERM and lines == ["nashlab solve: terminated"], err


def test_kl_to_nash_is_undefined_where_the_equilibrium_is_not_unique(capsys):
    """cyclic:n=2 (every policy is an equilibrium): DG_0 = 0 but KL to the LP's vertex was log 2; it is now NaN
    (null in JSON), with one warning line, while a batch keeps the KL of its games that have one equilibrium."""
    import math

    import numpy as np

    from nashlab.games import PreferenceGame, make_matrix
    from nashlab.solvers import solve

    res = solve(PreferenceGame(make_matrix("cyclic", n=2)), "mwu", iters=5)
    assert res.nash_unique is False and math.isnan(res.final["kl_to_nash"]) and res.final["duality_gap"] == 0.0
    batch = np.stack([make_matrix("cyclic", n=4), make_matrix("egpo", n=4, seed=1)])
    res = solve(PreferenceGame(batch), "mwu", iters=5)
    assert res.nash_unique.tolist() == [False, True]
    kl = res.final["kl_to_nash"]
    assert math.isnan(kl[0]) and kl[1] > 0
    assert solve(PreferenceGame(make_matrix("cyclic", n=2)), "mmd", beta=0.1, iters=5).nash_unique is True

    rc = main(["solve", "--game", "cyclic:n=2", "--solver", "mwu", "--iters", "5", "--json"])
    captured = capsys.readouterr()
    d = json.loads(captured.out.strip().splitlines()[-1])
    assert rc == 0 and d["final"]["kl_to_nash"] is None and d["nash_unique"] is False
    assert captured.err.count("\n") == 1 and "not unique" in captured.err


@pytest.mark.parametrize("solver", ["mnpo", "td-mnpo"])
@pytest.mark.parametrize("players", ["1", "1025", "100000000"])
def test_player_counts_are_bounded(capsys, solver, players):
    rc = main(["solve", "--game", "cyclic:n=3", "--solver", solver, "--beta", "0.1", "--num-players", players,
               "--iters", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "num_players (--num-players) must be an integer in [2, 1024]" in err[0]
