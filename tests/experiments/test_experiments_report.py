"""Report arithmetic checked against direct computations: first iteration below ε, medians over seeds with
never-reached seeds counted as +∞, ranking order, strict JSON; and the grid size as a product (hypothesis)."""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from nashlab.experiments.config import expand, parse_config
from nashlab.experiments.report import _json_safe, first_reach, gap_metric, rankings

REG = ("egpo", "nash-mp", "mwu", "inpo")


def test_first_reach_is_the_first_recorded_iteration_at_or_below_eps():
    its = [0, 10, 20, 30, 40]
    vals = [1.0, 2e-3, 1e-3, 5e-4, 2e-3]  # not monotone: the first crossing counts
    assert first_reach(its, vals, 1e-3) == 20
    assert first_reach(its, vals, 1e-6) == math.inf


def _task(solver, seed, gap, reach, beta=0.1, fb="exact"):
    return {"game": "g", "beta": beta, "solver": solver, "feedback": fb, "eta": None, "init": "ref",
            "policy": "tabular", "seed": seed, "players": None, "hparams": {"eta": 0.5}, "gap_metric": "reg_duality_gap",
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
    safe = _json_safe(table)
    json.dumps(safe, allow_nan=False)  # strict JSON: inf/NaN became null
    assert safe["rows"][1]["iters_to_0.001"] is None


def test_gap_metric_follows_the_game():
    assert gap_metric({"beta": 0.0, "players": None, "final": {}}) == "duality_gap"
    assert gap_metric({"beta": 0.1, "players": None, "final": {}}) == "reg_duality_gap"
    assert gap_metric({"beta": 0.1, "players": 3, "final": {"multiplayer_duality_gap": 0.0}}) == "multiplayer_duality_gap"


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
