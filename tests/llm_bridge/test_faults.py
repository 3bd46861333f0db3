"""Faults of `nashlab llm train`: SIGKILL and SIGTERM of a real run at a seeded random moment, then `--resume`; the
resumed run's metrics equal an uninterrupted run's, and no process of the killed run is left."""

import csv
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from nashlab.experiments.cli import main
from test_run_folder import SMALL

#: 60 iterations (a batched iteration of this model takes ~0.05 s: the run must outlast the seeded delay), a checkpoint
#: every 2 (so a kill between checkpoints redoes an iteration, and odd rows are not evaluated).
CONFIG = SMALL.replace("iterations = 2", "iterations = 60").replace("checkpoint_every = 1", "checkpoint_every = 2")


def _rows(path):
    with open(path) as f:
        return [{k: v for k, v in r.items() if not k.startswith("seconds") and k != "tokens_per_second"} for r in csv.DictReader(f)]


def _lines(path):
    try:
        with open(path) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def _group_alive(pgid):
    """Pids whose process group is ``pgid`` (the killed run was started as its own session and group)."""
    alive = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(int(p))
    return alive


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    d = tmp_path_factory.mktemp("full")
    (d / "c.toml").write_text(CONFIG)
    assert main(["llm", "train", "--config", str(d / "c.toml"), "--out", str(d / "run"), "--quiet"]) == 0
    return _rows(d / "run" / "metrics.csv")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads process groups from /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path, capsys, uninterrupted, sig):
    rng = random.Random(int(sig))
    stop_after_row, delay = rng.randint(1, 4), rng.uniform(0.0, 0.4)  # seeded: the same moment every run
    config, out, err = tmp_path / "c.toml", tmp_path / "run", tmp_path / "stderr"
    config.write_text(CONFIG)
    with open(err, "w") as e:
        proc = subprocess.Popen([sys.executable, "-m", "nashlab.experiments.cli", "llm", "train", "--config",
                                 str(config), "--out", str(out), "--quiet"], stdout=subprocess.DEVNULL, stderr=e,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while _lines(out / "metrics.csv") < 2 + stop_after_row and proc.poll() is None:
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.02)
        time.sleep(delay)
        assert proc.poll() is None, "the run ended before the signal: nothing was interrupted"
        proc.send_signal(sig)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code != 0
    if sig == signal.SIGTERM:  # a clean stop: one line, the last checkpoint kept, no half-written save
        lines = err.read_text().strip().splitlines()
        assert len(lines) == 1 and lines[0] in ("nashlab llm: terminated", "nashlab llm: interrupted"), lines
        assert code in (130, 143)
        assert not (out / "checkpoint.tmp").exists() and not (out / "checkpoint.old").exists()
    for _ in range(50):
        if not _group_alive(proc.pid):
            break
        time.sleep(0.1)
    assert not _group_alive(proc.pid)
    assert len(_rows(out / "metrics.csv")) < len(uninterrupted)
    assert main(["llm", "train", "--config", str(config), "--out", str(out), "--quiet", "--resume"]) == 0
    assert _rows(out / "metrics.csv") == uninterrupted


def test_a_checkpoint_save_holds_sigint_and_sigterm_until_it_is_done():
    """SIGTERM inside the renames of a save is delivered after them, to the handler installed before."""
    from nashlab.llm_bridge.checkpoint import signals_deferred

    got = []
    old = signal.signal(signal.SIGTERM, lambda n, _f: got.append(n))
    try:
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            assert got == []
        assert got == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, old)
