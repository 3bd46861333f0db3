"""The runner on the real solvers: batched = looped, one process = two processes = Ray, and a SIGKILLed
``nashlab run`` resumes to exactly the numbers of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nashlab.experiments.config import Task, expand, load_config
from nashlab.experiments.runner import run_sweep  # noqa: E402
from nashlab.experiments.tasks import build_game, make_batches, run_batch  # noqa: E402

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from store_snapshot import snapshot  # noqa: E402
REAL = HERE / "real.toml"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, in this process."""
    out = tmp_path_factory.mktemp("reference")
    run_sweep(load_config(REAL), out, progress=False)
    return out


def _task(**kw) -> Task:
    base = dict(game="g", spec="egpo:n=6,seed=0", ref="random:seed=0", num_players=None, solver="egpo", eta=None,
                beta=0.1, feedback="exact", init="ref", seed=0, iters=60, every=10, policy="tabular")
    base.update(kw)
    return Task(**base)


def test_batched_equals_looped():
    batch = [_task(spec=f"egpo:n=6,seed={s}", ref=f"random:seed={s}", seed=s) for s in range(3)]
    batch.append(_task(spec="hodge:n=6,seed=1", game="h"))
    batch.append(_task(spec="contextual:n=6,contexts=4,seed=2", ref="game", game="c"))  # 4 more rows
    assert len(make_batches(batch)) == 1  # all five stack into one solve call
    together = run_batch(batch)
    for t, rec in zip(batch, together):
        (alone,) = run_batch([t])
        assert rec["task_id"] == alone["task_id"] == t.task_id
        assert rec["trace"]["iteration"] == alone["trace"]["iteration"]
        for m, v in alone["final"].items():
            assert rec["final"][m] == pytest.approx(v, rel=1e-9, abs=1e-13), m
        for m, v in alone["trace"].items():
            np.testing.assert_allclose(rec["trace"][m], v, rtol=1e-9, atol=1e-13, err_msg=m)
        assert rec["queries"] == alone["queries"]


def test_same_task_same_numbers_and_seeds_matter():
    t = _task(feedback="sampled:4", seed=3)
    assert run_batch([t]) [0]["final"] == run_batch([t])[0]["final"]
    other = run_batch([_task(feedback="sampled:4", seed=4)])[0]["final"]
    assert other["reg_duality_gap"] != run_batch([t])[0]["final"]["reg_duality_gap"]


def test_contextual_and_multiplayer_tasks():
    from nashlab.games import ContextualGame, MultiplayerGame, multiplayer_duality_gap, reg_duality_gap

    g = build_game("contextual:n=4,contexts=5,seed=0", "game", None, 0.1)
    assert isinstance(g, ContextualGame) and g.game.beta == 0.1
    rec = run_batch([_task(spec="contextual:n=4,contexts=5,seed=0", ref="game")])[0]
    assert all(isinstance(v, float) for v in rec["final"].values())  # the mean over the 5 prompts
    from nashlab.solvers import solve

    res = solve(g, "egpo", iters=60, every=10)
    assert rec["final"]["reg_duality_gap"] == pytest.approx(float(np.mean(res.final["reg_duality_gap"])), abs=1e-15)

    mg = build_game("cyclic:n=5", "random:seed=1", 3, 0.1)
    assert isinstance(mg, MultiplayerGame) and mg.num_players == 3
    rec = run_batch([_task(spec="cyclic:n=5", num_players=3, solver="td-mnpo", ref="random:seed=1")])[0]
    # TD-MNPO holds one policy for every player: its multiplayer gap is DG_β/2 (checked independently below)
    assert rec["final"]["multiplayer_duality_gap"] == pytest.approx(rec["final"]["reg_duality_gap"] / 2)
    rng = np.random.default_rng(0)
    for _ in range(5):
        pi = rng.dirichlet(np.ones(5))
        ref = rng.dirichlet(np.ones(5))
        profile = np.stack([pi] * 3)
        assert multiplayer_duality_gap(mg.game.P, profile, ref, 0.1) == pytest.approx(
            reg_duality_gap(mg.game.P, pi, ref, 0.1) / 2, rel=1e-10, abs=1e-14)
    rec = run_batch([_task(spec="cyclic:n=5", num_players=3, solver="mnpo", ref="random:seed=1")])[0]
    assert "multiplayer_duality_gap" in rec["final"] and "multiplayer_duality_gap" in rec["trace"]


def test_sigkill_of_nashlab_run_then_rerun_gives_the_reference_numbers(reference, tmp_path):
    """``nashlab run`` (2 spawned workers) is SIGKILLed, with its workers, once part of the sweep is stored; the rerun
    (in one process) completes it. Also checks one process = two processes, since the reference ran in one."""
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "nashlab.experiments.cli", "run", str(REAL), "--out", str(out), "--workers", "2",
           "--no-figs", "--no-progress"]
    total = len(expand(load_config(REAL)))
    for attempt in range(3):  # on a loaded machine the whole sweep may finish between two polls; then kill earlier
        proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        stored, deadline = 0, time.time() + 120
        try:
            while time.time() < deadline and proc.poll() is None:
                if (out / "results.sqlite").exists():
                    try:
                        con = sqlite3.connect(out / "results.sqlite")
                        stored = con.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
                        con.close()
                    except sqlite3.OperationalError:
                        pass
                    if stored >= 1:
                        break
                time.sleep(0.01)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if 0 < stored < total:
            break
        import shutil

        shutil.rmtree(out, ignore_errors=True)
    assert 0 < stored < total, f"could not kill mid-run ({stored}/{total} stored)"
    cmd[cmd.index("--workers") + 1] = "1"
    res = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["skipped"] >= stored and summary["skipped"] + summary["ran"] == total
    assert snapshot(out) == snapshot(reference)


def test_ray_local_runtime_gives_the_reference_numbers(reference, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'nashlab[ray]'); the Ray backend is untested")
    run_sweep(load_config(REAL), tmp_path, workers=2, ray_address="local", progress=False)
    assert snapshot(tmp_path) == snapshot(reference)
