"""Report arithmetic checked against direct computations: first iteration below ε, medians over seeds with
never-reached seeds counted as +∞, ranking order, strict JSON; and the grid size as a product (hypothesis)."""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from nashlab.experiments.config import expand, parse_config
from nashlab.experiments.report import first_reach, gap_metric, rankings
from nashlab.json_plain import to_plain

REG = ("egpo", "nash-mp", "mwu", "inpo")


def test_first_reach_is_the_first_recorded_iteration_at_or_below_eps():
    its = [0, 10, 20, 30, 40]
    vals = [1.0, 2e-3, 1e-3, 5e-4, 2e-3]  # not monotone: the first crossing counts
    assert first_reach(its, vals, 1e-3) == 20
    assert first_reach(its, vals, 1e-6) == math.inf


def _task(solver, seed, gap, reach, beta=0.1, fb="exact"):
    return {"game": "g", "beta": beta, "solver": solver, "feedback": fb, "eta": None, "init": "ref",
            "policy": "tabular", "seed": seed, "num_players": None, "hparams": {"eta": 0.5}, "gap_metric": "reg_duality_gap",
            "final_gap": gap, "queries": 100.0 * (seed + 1), "iters_to_0.001": reach, "iters_to_1e-06": math.inf}


def test_rankings_medians_over_seeds_and_order():
    tasks = [_task("egpo", s, g, r) for s, (g, r) in enumerate([(1e-8, 100), (1e-7, 200), (1e-9, math.inf)])]
    tasks += [_task("mwu", s, g, r) for s, (g, r) in enumerate([(1e-2, math.inf), (1e-3, 50), (1e-1, math.inf)])]
    (table,) = rankings(tasks)
    egpo, mwu = table["rows"]
    assert (egpo["solver"], egpo["rank"], mwu["rank"]) == ("egpo", 1, 2)
    assert egpo["final_gap"] == np.median([1e-8, 1e-7, 1e-9])
    assert egpo["iters_to_0.001"] == 200  # median of (100, 200, ∞)
    assert mwu["iters_to_0.001"] == math.inf  # two of three seeds never reach it
    assert egpo["queries"] == 200.0 and egpo["eta"] == 0.5 and egpo["seeds"] == 3
    safe = to_plain(table)  # the sanitiser report_json applies
    json.dumps(safe, allow_nan=False)  # strict JSON: inf/NaN became null
    assert safe["rows"][1]["iters_to_0.001"] is None


def test_gap_metric_follows_the_game():
    assert gap_metric({"beta": 0.0, "num_players": None, "final": {}}) == "duality_gap"
    assert gap_metric({"beta": 0.1, "num_players": None, "final": {}}) == "reg_duality_gap"
    assert gap_metric({"beta": 0.1, "num_players": 3, "final": {"multiplayer_duality_gap": 0.0}}) == "multiplayer_duality_gap"


@given(
    solvers=st.lists(st.sampled_from(REG), min_size=1, max_size=4, unique=True),
    betas=st.lists(st.sampled_from([0.0, 0.01, 0.1, 1.0]), min_size=1, max_size=3, unique=True),
    etas=st.lists(st.sampled_from([0.1, 0.2, 0.5]), min_size=1, max_size=3, unique=True),
    seeds=st.integers(1, 4),
    feedback=st.lists(st.sampled_from(["exact", "sampled:2", "sampled:8"]), min_size=1, max_size=3, unique=True),
    games=st.integers(1, 3),
)
def test_grid_size_is_the_product_and_ids_unique(solvers, betas, etas, seeds, feedback, games):
    text = f"""
[sweep]
iters = 5
every = 5
seeds = {seeds}
feedback = {json.dumps(feedback)}
beta = {json.dumps(betas)}
eta = {json.dumps(etas)}
solvers = {json.dumps(solvers)}
""" + "".join(f'\n[[games]]\nname = "g{i}"\nspec = "cyclic:n={3 + i}"\n' for i in range(games))
    tasks = expand(parse_config(text, registry=REG, check_hparams=False, check_games=False))
    assert len(tasks) == games * len(solvers) * len(betas) * len(etas) * seeds * len(feedback)
    assert len({t.task_id for t in tasks}) == len(tasks)


# ------------------------------------------------------------------------------------------ cost: queries to target

COST_TOML = """
[sweep]
iters = 40
every = 5
seeds = 2
feedback = ["exact", "sampled:4", "sampled:4,labels=soft,estimator=shared"]
schedule = ["constant", "theory"]
beta = [0.1]
eta = [0.4]
solvers = ["egpo", "mmd"]

[[games]]
name = "rps"
spec = "cyclic:n=3"
ref = "random:seed={seed}"
"""


def test_schedule_is_a_grid_axis_and_constant_keeps_old_task_ids():
    """``schedule`` multiplies the grid; a constant-step task's id (and a config without the key's hash) is what it
    was before schedules existed, so an old store resumes."""
    from nashlab.experiments.config import Task

    cfg = parse_config(COST_TOML, registry=REG + ("mmd",), check_games=False, check_hparams=False)
    tasks = expand(cfg)
    assert len(tasks) == 2 * 3 * 2 * 2 and {t.schedule for t in tasks} == {"constant", "theory"}
    assert len({t.task_id for t in tasks}) == len(tasks)
    t = tasks[0]
    assert t.schedule == "constant" and "schedule" not in t.params()
    # the id the same parameters had before the field existed (sha256 of the params without it)
    import hashlib

    # (and before num_players was renamed: the old key 'players')
    old = {("players" if k == "num_players" else k): v for k, v in t.params().items()}
    assert "num_players" in t.params() and "players" in old
    assert t.task_id == hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:20]
    assert Task(**{**t.params(), "schedule": "theory"}).task_id != t.task_id
    no_key = parse_config(COST_TOML.replace('schedule = ["constant", "theory"]\n', ""), registry=REG + ("mmd",),
                          check_games=False, check_hparams=False)
    explicit = parse_config(COST_TOML.replace('["constant", "theory"]', '["constant"]'), registry=REG + ("mmd",),
                            check_games=False, check_hparams=False)
    assert no_key.hash == explicit.hash and "schedule" not in no_key.canonical()


def test_bad_schedule_or_feedback_option_names_the_key():
    from nashlab.experiments.config import ConfigError

    import pytest

    with pytest.raises(ConfigError, match="sweep.schedule entries must be one of constant"):
        parse_config(COST_TOML.replace('"theory"]', '"cosine"]'), registry=REG + ("mmd",), check_games=False)
    with pytest.raises(ConfigError, match="sweep.feedback: feedback option 'labels=maybe'"):
        parse_config(COST_TOML.replace("labels=soft", "labels=maybe"), registry=REG + ("mmd",), check_games=False)


def test_queries_to_target_ranking_and_judge_queries_in_json(tmp_path, capsys):
    """A real tiny sweep: every task's trace carries cumulative queries and samples; ``report --json`` carries each
    task's ``judge_queries`` (null for exact feedback) and a ``queries_to_target`` ranking whose value is the
    cumulative queries at the first record with gap ≤ target, median over seeds, null where never reached."""
    import pytest

    from nashlab.experiments.cli import main
    from nashlab.experiments.store import Store

    cfg = tmp_path / "cost.toml"
    cfg.write_text(COST_TOML)
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--no-figs"]) == 0
    capsys.readouterr()
    with Store(out, readonly=True) as store:
        samples = store.traces("samples")
        gaps = store.traces("reg_duality_gap")
        tasks = {t["task_id"]: t for t in store.tasks()}
    assert len(tasks) == 24 and set(samples) == set(tasks)
    for tid, t in tasks.items():
        tr = samples[tid]
        assert tr["iteration"] == list(range(0, 41, 5))
        per_step = (2 if t["solver"] == "egpo" else 1) * 3 * 4  # calls × actions × M
        if t["feedback"] == "exact":
            assert tr["value"] == [0] * 9 and tr["queries"] == [i * (2 if t["solver"] == "egpo" else 1)
                                                                for i in tr["iteration"]]
        else:
            assert tr["queries"] == [i * per_step for i in tr["iteration"]]
            shared = "shared" in t["feedback"]
            assert tr["value"][-1] == 40 * per_step // (3 if shared else 1)
    for target in (0.05, 1e-2):
        assert main(["report", str(out), "--json", "--target", str(target)]) == 0
        rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert rep["target"] == target
        by_id = {t["task_id"]: t for t in rep["tasks"]}
        for tid, t in by_id.items():
            assert t["judge_queries"] == (None if t["feedback"] == "exact" else tasks[tid]["queries"])
            g = gaps[tid]
            hit = [q for q, v in zip(g["queries"], g["value"]) if v <= target]
            assert t["queries_to_target"] == (hit[0] if hit else None)
        (table,) = rep["queries_to_target"]
        rows = table["rows"]
        assert [r["rank"] for r in rows] == list(range(1, 13))
        units = [r["unit"] for r in rows]
        assert units == sorted(units)  # judge queries first, then win-rate vectors
        sampled = [r["queries_to_target"] for r in rows if r["unit"] == "judge queries"]
        finite = [q for q in sampled if q is not None]
        assert sampled[:len(finite)] == sorted(finite) and all(q is None for q in sampled[len(finite):])
        for r in rows:
            mine = [by_id[i]["queries_to_target"] for i in by_id
                    if (by_id[i]["solver"], by_id[i]["feedback"], by_id[i]["schedule"]) ==
                    (r["solver"], r["feedback"], r["schedule"])]
            vals = [math.inf if q is None else q for q in mine]
            med = float(np.median(vals))
            assert r["queries_to_target"] == (None if math.isinf(med) else pytest.approx(med))
    assert main(["report", str(out), "--target", "0"]) == 2
    assert "--target must be a finite gap > 0" in capsys.readouterr().err
    assert main(["report", str(out), "--target", "1e-3"]) == 0
    assert "queries to reg_duality_gap ≤ 0.001" in capsys.readouterr().out


def test_a_store_written_before_cost_traces_reports_and_resumes(tmp_path, capsys):
    """A store in the earlier format (params without ``schedule``, no ``samples`` trace) is read as constant-step runs
    with their judge queries, and ``nashlab run`` on it finds every task done (same ids, same config hash)."""
    from nashlab.experiments.cli import main
    from nashlab.experiments.config import parse_config
    from nashlab.experiments.store import Store
    from nashlab.experiments.tasks import run_batch

    text = COST_TOML.replace('schedule = ["constant", "theory"]\n', "").replace(
        ', "sampled:4,labels=soft,estimator=shared"', "").replace('solvers = ["egpo", "mmd"]', 'solvers = ["egpo"]')
    cfg_path = tmp_path / "old.toml"
    cfg_path.write_text(text)
    cfg = parse_config(text)
    tasks = expand(cfg)
    out = tmp_path / "run"
    with Store(out) as store:
        assert store.bind_config(text, cfg.hash, str(cfg_path), "0.1.0")
        rows = []
        for i, t in enumerate(tasks):
            (res,) = run_batch([t])
            res["trace"].pop("samples")  # the earlier writer had no samples trace
            params = t.params()
            assert "schedule" not in params
            rows.append((i, params, res))
        store.write(rows)
    assert main(["report", str(out), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {t["schedule"] for t in rep["tasks"]} == {"constant"}
    assert all((t["judge_queries"] is None) == (t["feedback"] == "exact") for t in rep["tasks"])
    assert main(["run", str(cfg_path), "--out", str(out), "--no-figs", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["ran"], summary["skipped"]) == (0, len(tasks)), summary
