"""Runner and store: resume after a partial run or a SIGKILL reproduces an uninterrupted run; configs are bound to
their run directory; the report lists every task. Uses the deterministic fake task function (fast)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from nashlab.experiments.config import expand, load_config, parse_config
from nashlab.experiments.runner import run_sweep
from nashlab.experiments.store import ConfigMismatch, Store
from nashlab.experiments.tasks import make_batches

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from fake_tasks import fake_run_batch  # noqa: E402
from store_snapshot import snapshot  # noqa: E402

REG = ("egpo", "nash-mp", "mwu", "mnpo")


def tiny(**kw):
    return load_config(HERE / "tiny.toml", registry=REG, check_hparams=False, **kw)


def test_rerun_skips_finished_tasks(tmp_path):
    cfg = tiny()
    s1 = run_sweep(cfg, tmp_path, task_fn=fake_run_batch, progress=False)
    assert s1["ran"] == s1["tasks"] == len(expand(cfg)) and s1["skipped"] == 0
    before = snapshot(tmp_path)
    s2 = run_sweep(cfg, tmp_path, task_fn=fake_run_batch, progress=False)
    assert s2["ran"] == 0 and s2["skipped"] == s1["tasks"]
    assert snapshot(tmp_path) == before


def test_different_config_on_same_directory_refused(tmp_path):
    run_sweep(tiny(), tmp_path, task_fn=fake_run_batch, progress=False)
    other = parse_config((HERE / "tiny.toml").read_text().replace("iters = 60", "iters = 70"), registry=REG,
                         check_hparams=False)
    with pytest.raises(ConfigMismatch, match="holds results of a different config"):
        run_sweep(other, tmp_path, task_fn=fake_run_batch, progress=False)


def test_partial_run_then_resume_equals_uninterrupted(tmp_path):
    cfg = tiny()
    full, part = tmp_path / "full", tmp_path / "part"
    run_sweep(cfg, full, task_fn=fake_run_batch, progress=False)
    s = run_sweep(cfg, part, task_fn=fake_run_batch, progress=False, max_batches=5)
    assert 0 < s["ran"] < s["tasks"]
    s = run_sweep(cfg, part, task_fn=fake_run_batch, progress=False)
    assert s["skipped"] > 0 and s["skipped"] + s["ran"] == s["tasks"]
    assert snapshot(part) == snapshot(full)


def test_batches_are_deterministic_and_atomic_units():
    tasks = expand(tiny())
    b1, b2 = make_batches(tasks), make_batches(list(tasks))
    assert [[t.task_id for t in b] for b in b1] == [[t.task_id for t in b] for b in b2]
    assert sorted(t.task_id for b in b1 for t in b) == sorted(t.task_id for t in tasks)
    for b in b1:  # only exact, deterministic-init, two-player runs of one solver setting share a batch
        if len(b) > 1:
            assert {(t.solver, t.eta, t.beta, t.feedback, t.iters) for t in b} == {(b[0].solver, b[0].eta, b[0].beta,
                                                                                    "exact", b[0].iters)}
            assert all(t.num_players is None for t in b)


def test_store_write_is_one_transaction(tmp_path):
    """A failing write leaves nothing of its batch behind."""
    cfg = tiny()
    batch = make_batches(expand(cfg))[0]
    recs = fake_run_batch(batch)
    recs[-1] = {**recs[-1], "final": None}  # breaks the insert of the last row (json of None is fine; final.get fails)
    with Store(tmp_path) as store:
        with pytest.raises(Exception):
            store.write((i, t.params(), r) for i, (t, r) in enumerate(zip(batch, recs)))
        assert store.done() == set()


def test_report_json_lists_every_task(tmp_path, capsys):
    from nashlab.experiments.cli import main

    cfg = tiny()
    run_sweep(cfg, tmp_path, task_fn=fake_run_batch, progress=False)
    assert main(["report", str(tmp_path), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    rep = json.loads(out[-1])
    ids = {t["task_id"] for t in rep["tasks"]}
    assert rep["num_tasks"] == len(ids)
    assert ids == {t.task_id for t in expand(cfg)}
    one = rep["tasks"][0]
    for k in ("game", "solver", "eta", "beta", "feedback", "init", "seed", "final", "queries", "final_gap"):
        assert k in one
    # tables: one per (game, β), ranked by median final gap
    keys = {(tab["game"], tab["beta"]) for tab in rep["tables"]}
    assert keys == {(t.game, t.beta) for t in expand(cfg)}
    for tab in rep["tables"]:
        gaps = [r["final_gap"] for r in tab["rows"]]
        assert gaps == sorted(gaps)
    assert main(["report", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "it→1e-3" in text and "egpo" in text


def test_report_missing_directory_is_one_line_error(tmp_path, capsys):
    from nashlab.experiments.cli import main

    assert main(["report", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "no results store" in err and len(err.strip().splitlines()) == 1
