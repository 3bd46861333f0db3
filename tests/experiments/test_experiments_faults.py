"""Faults a sweep must survive, attacked through the command line: corrupt, read-only and concurrently used results
stores, unusable ``--out`` paths, bad seeds and iteration counts in the config. Every refusal is exit 2 with exactly
one stderr line; the read-only cases that must work (``report``, ``figs --figs-dir``) work."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nashlab.experiments.cli import main
from nashlab.experiments.config import load_config, parse_config
from nashlab.experiments.runner import run_sweep
from nashlab.experiments.store import DB_NAME, Store, StoreError

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from fake_tasks import fake_run_batch  # noqa: E402
from store_snapshot import snapshot  # noqa: E402

TINY = str(HERE / "tiny.toml")
REG = ("egpo", "nash-mp", "mwu", "mnpo")

#: One game, one solver, one β, exact feedback: four figures, drawn in seconds.
SMALL = """
[sweep]
iters = 40
every = 5
seeds = 2
beta = [0.1]
solvers = ["egpo"]

[[games]]
name = "rps"
spec = "cyclic:n=3"
"""


def cli(capsys, *argv) -> tuple[int, str, list[str]]:
    code = main(list(argv))
    cap = capsys.readouterr()
    return code, cap.out, cap.err.strip().splitlines()


def refused(capsys, *argv, match: str, code: int = 2) -> str:
    got, _, err = cli(capsys, *argv)
    assert got == code and len(err) == 1, (got, err)
    assert match in err[0], err[0]
    return err[0]


@pytest.fixture
def finished(tmp_path) -> Path:
    """A finished run of SMALL (fake task function), closed cleanly as a real run leaves it (no -wal, no -shm)."""
    cfg = parse_config(SMALL, registry=REG, check_hparams=False)
    out = tmp_path / "run"
    run_sweep(cfg, out, task_fn=fake_run_batch, progress=False)
    assert not (out / (DB_NAME + "-shm")).exists()
    return out


# ------------------------------------------------------------------------------------------------- corrupt stores


def _corrupt(kind: str, directory: Path, good: Path) -> None:
    directory.mkdir()
    db = directory / DB_NAME
    data = (good / DB_NAME).read_bytes()
    if kind == "empty":
        db.write_bytes(b"")
    elif kind == "random":
        db.write_bytes(os.urandom(5000))
    elif kind == "truncated":
        db.write_bytes(data[: len(data) // 3])
    elif kind == "header":  # a damaged first page
        db.write_bytes(data[:100] + os.urandom(4000) + data[4100:])
    elif kind == "foreign":  # a valid SQLite file of something else
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE t (x)")
        con.commit()
        con.close()


@pytest.mark.parametrize("kind", ["empty", "random", "truncated", "header", "foreign"])
def test_report_figs_and_run_refuse_a_damaged_store_in_one_line(kind, tmp_path, finished, capsys):
    bad = tmp_path / kind
    _corrupt(kind, bad, finished)
    msg = refused(capsys, "report", str(bad), match=str(bad / DB_NAME))
    assert "Traceback" not in msg
    refused(capsys, "figs", str(bad), "--figs-dir", str(tmp_path / "figs"), match=str(bad / DB_NAME))
    if kind == "empty":
        return  # SQLite treats a 0-byte file as an empty database: `run` may start a store in it
    refused(capsys, "run", TINY, "--out", str(bad), "--workers", "1", "--no-figs", "--no-progress",
            match=str(bad / DB_NAME))


def test_a_damaged_row_is_one_line(tmp_path, finished, capsys):
    con = sqlite3.connect(finished / DB_NAME)
    con.execute("UPDATE tasks SET final = '{\"broken' WHERE idx = 0")
    con.commit()
    con.close()
    refused(capsys, "report", str(finished), match="damaged row")


# ----------------------------------------------------------------------------------------------- read-only stores


def _readonly_prefix(directory: Path) -> list[str] | None:
    """A command prefix that runs what follows with ``directory`` bind-mounted read-only (a private mount namespace
    of an unprivileged user namespace: nothing outside the command sees it), or ``None`` where that is not allowed."""
    if not shutil.which("unshare"):
        return None
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        return None
    return ["unshare", "-rm", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(directory)]


#: Runs each argv of a JSON list through the CLI in ONE process (one interpreter start-up for all of them) and prints
#: one JSON line per call: exit code, stdout, stderr.
_DRIVER = """
import contextlib, io, json, sys
from nashlab.experiments.cli import main
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    print(json.dumps([code, out.getvalue(), err.getvalue()]), flush=True)
"""


def _nashlab_cmd(*argv) -> list[str]:
    return [sys.executable, "-m", "nashlab.experiments.cli", *argv]


def test_store_on_a_read_only_file_system_is_read_and_never_written(tmp_path, finished):
    """The must-work case: `report` and `figs --figs-dir` on a valid store that nothing may write (here a read-only
    bind mount, EROFS, which binds root too; without unshare, a chmod that binds a non-root user)."""
    prefix = _readonly_prefix(finished)
    if prefix is None:
        if os.geteuid() == 0:
            pytest.skip("needs `unshare -rm` (user namespaces) to make a read-only file system as root; "
                        "test_readonly_open_where_the_folder_is_not_writable covers the code path")
        finished.chmod(0o555)
        prefix = []
    before = (finished / DB_NAME).read_bytes()
    figs_out = tmp_path / "figs_elsewhere"
    calls = [
        ["report", str(finished), "--json"],
        ["figs", str(finished), "--figs-dir", str(figs_out), "--workers", "1"],
        ["figs", str(finished)],
        ["run", TINY, "--out", str(finished), "--no-progress", "--workers", "1"],
        ["run", TINY, "--out", str(finished / "sub"), "--no-progress"],
    ]
    try:
        r = subprocess.run(prefix + [sys.executable, "-c", _DRIVER, json.dumps(calls)], capture_output=True, text=True)
    finally:
        finished.chmod(0o755)
    assert r.returncode == 0, r.stderr
    (rep, figs, figs_here, run_here, run_under) = [json.loads(line) for line in r.stdout.splitlines()]
    assert rep[0] == 0 and rep[2] == "" and json.loads(rep[1])["num_tasks"] == 2
    assert figs[0] == 0 and len(list(figs_out.glob("*.png"))) == 4
    for (code, _, err), match in [(figs_here, "pass --figs-dir"), (run_here, "cannot write in run directory"),
                                  (run_under, "cannot create run directory")]:
        assert code == 2 and len(err.strip().splitlines()) == 1 and match in err, err
    assert sorted(p.name for p in finished.iterdir()) == [DB_NAME, DB_NAME + ".lock"]
    assert (finished / DB_NAME).read_bytes() == before


def test_readonly_open_where_the_folder_is_not_writable(finished, monkeypatch):
    """Where the folder is not writable, the store opens with immutable=1: no -shm file is needed or made."""
    import nashlab.experiments.store as store_mod

    real_access = os.access
    monkeypatch.setattr(store_mod.os, "access",
                        lambda p, mode: False if Path(p) == finished and mode == os.W_OK else real_access(p, mode))
    with Store(finished, readonly=True) as s:
        assert len(s.tasks()) == 2 and s.meta()["config_hash"]
    assert not (finished / (DB_NAME + "-shm")).exists()
    monkeypatch.undo()
    with Store(finished, readonly=True) as s:  # a writable folder: plain mode=ro, which maps the -shm file
        assert len(s.tasks()) == 2
        assert (finished / (DB_NAME + "-shm")).exists()


# ------------------------------------------------------------------------------------------------------ bad --out


def test_run_out_on_a_file_or_under_a_file_is_one_line(tmp_path, capsys):
    f = tmp_path / "a_file"
    f.write_text("x")
    common = (TINY, "--workers", "1", "--no-figs", "--no-progress")
    refused(capsys, "run", *common, "--out", str(f), match="is a file, not a directory")
    refused(capsys, "run", *common, "--out", str(f / "sub" / "run"), match=f"{f} is a file")
    assert f.read_text() == "x"


# ------------------------------------------------------------------------------------------------ concurrent runs


def test_a_second_writer_on_the_same_directory_is_refused(tmp_path, capsys):
    cfg = load_config(TINY, registry=REG, check_hparams=False)
    out = tmp_path / "run"
    with Store(out):  # another `nashlab run` holds the directory
        with pytest.raises(StoreError, match=f"in use by another nashlab run \\(pid {os.getpid()}\\)"):
            run_sweep(cfg, out, task_fn=fake_run_batch, progress=False)
        refused(capsys, "run", TINY, "--out", str(out), "--workers", "1", "--no-figs", "--no-progress",
                match="in use by another nashlab run")
    # the lock goes with its holder: now the run proceeds, and equals one that never met a rival
    run_sweep(cfg, out, task_fn=fake_run_batch, progress=False)
    run_sweep(cfg, tmp_path / "alone", task_fn=fake_run_batch, progress=False)
    assert snapshot(out) == snapshot(tmp_path / "alone")


# ------------------------------------------------------------------------------------------------ killed runs

KILL = str(HERE / "kill.toml")


def _session_processes(sid: int) -> list[str]:
    """Live (not zombie) processes of session ``sid``: the run, its workers, the resource tracker."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
            cmd = Path(f"/proc/{d}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # state, ppid, pgrp, session, …
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(f"{d} {cmd[:100]}")
    return found


def _stored(out: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{out / DB_NAME}?mode=ro", uri=True)
        try:
            return con.execute("SELECT count(*) FROM tasks").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple:
    out = tmp_path_factory.mktemp("uninterrupted")
    run_sweep(load_config(KILL), out, workers=1, progress=False)
    return snapshot(out)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the run's processes in /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=lambda s: s.name)
def test_killed_run_leaves_no_process_and_resumes_to_the_uninterrupted_store(sig, tmp_path, uninterrupted):
    """`nashlab run --workers 2` killed at a seeded random moment after its first commit: 5 s later no process of its
    session is alive (workers and resource tracker included); SIGTERM stops it with one line and
    128 + signum; the resumed store equals an uninterrupted run's."""
    import random

    out, err = tmp_path / "run", tmp_path / "stderr"
    with open(err, "w") as ferr:
        proc = subprocess.Popen(_nashlab_cmd("run", KILL, "--out", str(out), "--workers", "2", "--no-figs",
                                             "--no-progress"),
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=ferr)
    sid = proc.pid
    try:
        deadline = time.monotonic() + 240
        while _stored(out) == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before its first commit was seen"
        time.sleep(random.Random(int(sig)).uniform(0.0, 0.3))
        os.kill(proc.pid, sig)
        code = proc.wait(60)
        t0 = time.monotonic()
        while _session_processes(sid) and time.monotonic() - t0 < 5.0:
            time.sleep(0.1)
        alive = _session_processes(sid)
        assert alive == [], alive
    finally:
        for line in _session_processes(sid):  # never leave a stray process behind, even when the test fails
            os.kill(int(line.split()[0]), signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stored = _stored(out)
    cfg = load_config(KILL)
    assert 0 < stored < len(uninterrupted[0]), "the kill should land mid-run"
    if sig != signal.SIGKILL:
        lines = err.read_text().strip().splitlines()
        assert code == 128 + sig and len(lines) == 1 and "rerun the same command to resume" in lines[0], lines
    s = run_sweep(cfg, out, workers=1, progress=False)
    assert s["skipped"] == stored and s["skipped"] + s["ran"] == s["tasks"]
    assert snapshot(out) == uninterrupted


def test_a_worker_whose_parent_dies_exits_without_prctl(tmp_path):
    """The portable fallback alone (PR_SET_PDEATHSIG disabled by pretending not to be on Linux): a child that calls
    die_with_parent exits within a second of its parent's SIGKILL."""
    child = ("import os, sys, time; sys.platform = 'darwin'\n"
             "from nashlab.experiments.runner import die_with_parent\n"
             "die_with_parent(os.getppid()); print(os.getpid(), flush=True); time.sleep(120)")
    parent = ("import subprocess, sys\n"
              f"p = subprocess.Popen([sys.executable, '-c', {child!r}]); p.wait()")
    proc = subprocess.Popen([sys.executable, "-c", parent], start_new_session=True, stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(proc.stdout.readline())
        proc.kill()
        proc.wait()
        t0 = time.monotonic()
        while _session_processes(proc.pid) and time.monotonic() - t0 < 5.0:
            time.sleep(0.05)
        assert _session_processes(proc.pid) == []
        assert time.monotonic() - t0 < 5.0
    finally:
        for line in _session_processes(proc.pid):
            os.kill(int(line.split()[0]), signal.SIGKILL)
    assert not Path(f"/proc/{child_pid}").exists() or "Z" in Path(f"/proc/{child_pid}/stat").read_text().split()[2]


# ----------------------------------------------------------------------------------------------- config refusals

BAD_CONFIGS = [
    (SMALL.replace("iters = 40", "iters = 1000000000000"), "sweep.iters = 1000000000000 exceeds"),
    (SMALL + "\n[solvers.egpo]\niters = 20000000\n", "solvers.egpo.iters = 20000000 exceeds"),
    (SMALL.replace("seeds = 2", "seeds = [0, -1]"), "sweep.seeds entries must be an integer in [0, 2**63)"),
    (SMALL.replace("seeds = 2", "seeds = [99999999999999999999]"), "sweep.seeds entries must be an integer in [0, 2**63)"),
    (SMALL.replace("seeds = 2", f"seeds = [{2**63}]"), "sweep.seeds entries must be an integer in [0, 2**63)"),
    (SMALL.replace("seeds = 2", "seeds = 100000000"), "sweep.seeds = 100000000 seeds exceeds"),
    (SMALL.replace("seeds = 2", "seeds = 100000\neta = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]"),
     "expands to 1,100,000 tasks"),
    (SMALL.replace("seeds = 2", 'seeds = 2\ninit = ["random:seed=99999999999999999999"]'),
     "sweep.init entry 'random:seed=99999999999999999999': seed must be an integer in [0, 2**63)"),
    (SMALL.replace('spec = "cyclic:n=3"', 'spec = "egpo:n=4,seed=99999999999999999999"'), "games[0] ('rps')"),
    (SMALL.replace('name = "rps"', 'name = "rps"\nref = "random:seed=-1"'), "games[0] ('rps')"),
    ("games = [1]\n" + SMALL.split("[[games]]")[0], "games[0] must be a table"),
    (SMALL.replace("[sweep]", "[sweep"), "not valid TOML"),
]


@pytest.mark.parametrize("text,match", BAD_CONFIGS, ids=[m[:30] for _, m in BAD_CONFIGS])
def test_bad_sweep_config_is_one_line_naming_the_file_and_key(text, match, tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    msg = refused(capsys, "run", str(path), "--out", str(tmp_path / "out"), "--workers", "1", "--no-progress",
                  "--no-figs", match=match)
    assert str(path) in msg
    assert not (tmp_path / "out").exists()


def test_non_utf8_config_names_the_file(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes(SMALL.replace('"rps"', '"r\xe9ps"').encode("latin-1"))
    msg = refused(capsys, "run", str(path), "--out", str(tmp_path / "out"), match="not a UTF-8 text file")
    assert str(path) in msg and "0xe9" in msg


def test_stored_traces_stay_bounded_whatever_every_is(tmp_path):
    """every = 1 over 5,000 iterations: the real task function stores at most MAX_TRACE_POINTS + 2 points a trace
    (solve raises the recording interval), with the first and the last iteration kept."""
    from nashlab.solvers.solve import MAX_TRACE_POINTS

    text = SMALL.replace("iters = 40", "iters = 5000").replace("every = 5", "every = 1").replace("seeds = 2", "seeds = 1")
    run_sweep(parse_config(text), tmp_path, workers=1, progress=False)
    with Store(tmp_path, readonly=True) as s:
        (tr,) = s.traces("reg_duality_gap").values()
    assert len(tr["iteration"]) == len(tr["value"]) <= MAX_TRACE_POINTS + 2
    assert tr["iteration"][0] == 0 and tr["iteration"][-1] == 5000
