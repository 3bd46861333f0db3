"""Ranking tables from a results store: per game and β, the solvers ordered by their median final duality gap.

The gap of a task is the one its game defines (:func:`gap_metric`): ``DG_β`` (``reg_duality_gap``) for β > 0,
``DG_0`` (``duality_gap``) for β = 0, and the multiplayer gap ``max_i [max_{π'} J_i(π', π_{−i}) − J_i(π)]`` for an
n-player game. "Iterations to reach ε" is the first recorded iteration whose gap is ≤ ε (the trace is recorded every
``every`` iterations, so it is exact up to that resolution); a seed that never reaches ε counts as +∞, so the median
is finite only when more than half the seeds reach it.

Cost. Every task's trace records its cumulative judge queries per record. ``judge_queries`` is a task's total number
of pairwise comparisons asked of the judge (sampled feedback; ``null`` for exact feedback, which reads ``Pπ`` and asks
no judge: its ``queries`` count win-rate vectors). "Queries to target" is the cumulative number of queries at the
first record whose gap is ``≤ target`` (``--target``, default :data:`DEFAULT_TARGET`); a seed that never gets there
counts as +∞ (``null`` in JSON: *never reached within the run*). The ``queries_to_target`` tables rank, per game and
β, the rows of sampled feedback by their median judge queries to target (fewest first); rows of exact feedback follow,
ranked among themselves in win-rate vectors (``unit``), since the two units do not compare.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from nashlab.json_plain import to_plain

from .store import Store

THRESHOLDS = (1e-3, 1e-6)
#: Default target gap of the queries-to-target ranking.
DEFAULT_TARGET = 1e-2


def gap_metric(task: dict[str, Any]) -> str:
    """The metric that measures convergence for this task's game (the multiplayer gap when the solver played the
    n-player game with one policy per player; otherwise the symmetric gap of its policy)."""
    if task.get("num_players") and "multiplayer_duality_gap" in task.get("final", {}):
        return "multiplayer_duality_gap"
    return "reg_duality_gap" if task["beta"] > 0 else "duality_gap"


def first_reach(iterations: list[int], values: list[float], eps: float) -> float:
    """First recorded iteration with value ≤ eps (``inf`` if none)."""
    for it, v in zip(iterations, values):
        if v <= eps:
            return float(it)
    return math.inf


def _median(xs: list[float]) -> float:
    return float(np.median(np.asarray(xs, dtype=np.float64))) if xs else math.nan


def queries_to_reach(queries: list[float], values: list[float], target: float) -> float:
    """Cumulative queries at the first record with value ≤ target (``inf`` if none)."""
    for q, v in zip(queries, values):
        if v <= target:
            return float(q)
    return math.inf


def collect(store: Store, target: float = DEFAULT_TARGET) -> list[dict[str, Any]]:
    """Every task with its gap metric, final gap, iterations to reach each threshold, ``judge_queries`` and
    ``queries_to_target`` (in the task's own query unit)."""
    tasks = store.tasks()
    traces: dict[str, dict] = {}
    for m in {gap_metric(t) for t in tasks}:
        traces[m] = store.traces(m)
    for t in tasks:
        m = gap_metric(t)
        t["gap_metric"] = m
        t["final_gap"] = t["final"].get(m, math.nan)
        tr = traces[m].get(t["task_id"])
        for eps in THRESHOLDS:
            t[f"iters_to_{eps:g}"] = first_reach(tr["iteration"], tr["value"], eps) if tr else math.nan
        t.setdefault("schedule", "constant")  # tasks stored before schedules existed ran a constant step
        sampled = str(t["feedback"]).startswith("sampled")
        t["judge_queries"] = t["queries"] if sampled else None
        t["queries_to_target"] = queries_to_reach(tr["queries"], tr["value"], target) if tr else math.nan
    return tasks


def _row_key(t: dict[str, Any]) -> tuple:
    return (t["solver"], t["feedback"], t["eta"], t.get("schedule", "constant"), t["init"], t["policy"])


def _by_game_and_row(tasks: list[dict[str, Any]]) -> list[tuple[tuple, dict[tuple, list]]]:
    """Tasks grouped by (game, β), then by table row (:func:`_row_key`), games and β in order."""
    groups: dict[tuple, dict[tuple, list]] = defaultdict(lambda: defaultdict(list))
    for t in tasks:
        groups[(t["game"], t["beta"])][_row_key(t)].append(t)
    return sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1]))


def queries_to_target(tasks: list[dict[str, Any]], target: float = DEFAULT_TARGET) -> list[dict[str, Any]]:
    """One table per (game, β): rows = (solver, feedback, η, schedule, init, policy) ranked by the median over seeds
    of the queries needed to reach ``gap ≤ target`` (``inf`` where more than half the seeds never reach it); sampled
    feedback (judge queries) first, then exact feedback (win-rate vectors)."""
    tables = []
    for (game, beta), rows in _by_game_and_row(tasks):
        out_rows = []
        for (solver, fb, eta, schedule, init, policy), ts in rows.items():
            sampled = str(fb).startswith("sampled")
            out_rows.append({
                "solver": solver, "feedback": fb, "eta": ts[0]["hparams"].get("eta", eta), "schedule": schedule,
                "init": init, "policy": policy, "seeds": len(ts), "gap_metric": ts[0]["gap_metric"],
                "unit": "judge queries" if sampled else "win-rate vectors",
                "queries_to_target": _median([x["queries_to_target"] for x in ts]),
                "reached": sum(1 for x in ts if math.isfinite(x["queries_to_target"])),
                "final_gap": _median([x["final_gap"] for x in ts]),
            })

        def order(r):
            q = r["queries_to_target"]
            return (r["unit"] != "judge queries", math.inf if math.isnan(q) else q, r["final_gap"], r["solver"])

        out_rows.sort(key=order)
        for rank, r in enumerate(out_rows, 1):
            r["rank"] = rank
        tables.append({"game": game, "beta": beta, "target": target, "rows": out_rows})
    return tables


def rankings(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One table per (game, β): rows = (solver, feedback, η, init, policy), medians over seeds, best gap first."""
    tables = []
    for (game, beta), rows in _by_game_and_row(tasks):
        out_rows = []
        for (solver, fb, eta, schedule, init, policy), ts in rows.items():
            resolved_eta = ts[0]["hparams"].get("eta", eta)
            row = {
                "solver": solver, "feedback": fb, "eta": resolved_eta, "schedule": schedule, "init": init,
                "policy": policy,
                "seeds": len(ts), "gap_metric": ts[0]["gap_metric"],
                "final_gap": _median([x["final_gap"] for x in ts]),
                "queries": _median([x["queries"] for x in ts]),
            }
            for eps in THRESHOLDS:
                row[f"iters_to_{eps:g}"] = _median([x[f"iters_to_{eps:g}"] for x in ts])
            out_rows.append(row)
        out_rows.sort(key=lambda r: (math.inf if math.isnan(r["final_gap"]) else r["final_gap"], r["solver"]))
        for rank, r in enumerate(out_rows, 1):
            r["rank"] = rank
        tables.append({"game": game, "beta": beta, "rows": out_rows})
    return tables


def _fmt_it(x: float) -> str:
    return "never" if math.isinf(x) else "—" if math.isnan(x) else f"{int(x)}"


def _fmt_q(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.3g}"


def format_tables(tables: list[dict[str, Any]]) -> str:
    """Plain-text tables, one per (game, β)."""
    lines = []
    head = f"{'#':>2}  {'solver':<9} {'feedback':<11} {'eta':>7} {'init':<8} {'final gap':>10} {'it→1e-3':>8} " \
           f"{'it→1e-6':>8} {'queries':>9} {'seeds':>5}"
    for tab in tables:
        metric = tab["rows"][0]["gap_metric"] if tab["rows"] else ""
        lines.append(f"== {tab['game']}  β = {tab['beta']:g}  ({metric}, median over seeds)")
        lines.append(head)
        for r in tab["rows"]:
            eta = "—" if r["eta"] is None else f"{r['eta']:.3g}"
            lines.append(
                f"{r['rank']:>2}  {r['solver']:<9} {r['feedback']:<11} {eta:>7} {r['init']:<8} "
                f"{r['final_gap']:>10.2e} {_fmt_it(r['iters_to_0.001']):>8} {_fmt_it(r['iters_to_1e-06']):>8} "
                f"{_fmt_q(r['queries']):>9} {r['seeds']:>5}"
            )
        lines.append("")
    return "\n".join(lines)


def format_queries_tables(tables: list[dict[str, Any]]) -> str:
    """Plain-text queries-to-target tables, one per (game, β)."""
    lines = []
    width = max([len(r["feedback"]) for tab in tables for r in tab["rows"]] + [8])
    head = f"{'#':>2}  {'solver':<9} {'feedback':<{width}} {'eta':>7} {'schedule':<14} {'queries→target':>15} " \
           f"{'unit':<16} {'reached':>7}"
    for tab in tables:
        metric = tab["rows"][0]["gap_metric"] if tab["rows"] else ""
        lines.append(f"== {tab['game']}  β = {tab['beta']:g}  queries to {metric} ≤ {tab['target']:g} "
                     "(median over seeds; never = not reached by more than half)")
        lines.append(head)
        for r in tab["rows"]:
            eta = "—" if r["eta"] is None else f"{r['eta']:.3g}"
            q = r["queries_to_target"]
            qs = "never" if math.isinf(q) else "—" if math.isnan(q) else f"{q:.4g}"
            lines.append(f"{r['rank']:>2}  {r['solver']:<9} {r['feedback']:<{width}} {eta:>7} {r['schedule']:<14} "
                         f"{qs:>15} {r['unit']:<16} {r['reached']:>3}/{r['seeds']:<3}")
        lines.append("")
    return "\n".join(lines)


def check_target(target) -> float:
    """``target`` as a float after checking it is a finite number > 0."""
    try:
        v = float(target)
    except (TypeError, ValueError):
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"--target must be a finite gap > 0 (e.g. 1e-2); got {target!r}")
    return v


def build_report(directory, target: float = DEFAULT_TARGET) -> dict[str, Any]:
    """The report of a run directory: ``tables`` (rankings, :func:`rankings`), ``queries_to_target`` (rankings by
    queries to ``gap ≤ target``, :func:`queries_to_target`), ``target``, and ``tasks`` (one entry per task:
    parameters, final metrics, ``queries``, ``judge_queries``, ``queries_to_target``, resolved hyper-parameters,
    ``final_gap``, ``iters_to_0.001``, ``iters_to_1e-06``). In JSON, a ``queries_to_target`` or ``iters_to_*`` of
    ``null`` means the target was never reached within the run (the median: by more than half the seeds).
    """
    target = check_target(target)
    with Store(directory, readonly=True) as store:
        meta = store.meta()
        tasks = collect(store, target)
    return {
        "out": str(directory), "config_hash": meta.get("config_hash"), "config_source": meta.get("config_source"),
        "num_tasks": len(tasks), "expected_tasks": _expected(meta), "target": target, "tables": rankings(tasks),
        "queries_to_target": queries_to_target(tasks, target), "tasks": tasks,
    }


def _expected(meta: dict[str, str]) -> int | None:
    """Size of the stored config's grid (``None`` if it no longer parses, e.g. a solver was since unregistered)."""
    from .config import ConfigError, expand, parse_config

    try:
        return len(expand(parse_config(meta["config_text"], check_games=False, check_hparams=False,
                                       trust_rule_files=None, warn_deprecated=False)))
    except (KeyError, ConfigError):
        return None


def report_json(directory, target: float = DEFAULT_TARGET) -> dict[str, Any]:
    """:func:`build_report` as strict JSON data (:func:`nashlab.json_plain.to_plain`, the one sanitiser): a threshold
    never reached (+∞) or a missing value becomes ``null``, without a warning (docs/json_output.md: a ``null`` the
    report writes itself means "never reached" or "not recorded")."""
    return to_plain(build_report(directory, target))
