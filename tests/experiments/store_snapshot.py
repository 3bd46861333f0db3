"""Read back every stored number of a run directory, to compare runs (resumed vs uninterrupted, Ray vs local)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def snapshot(directory) -> tuple[list, list]:
    """Every stored number except timestamps and wall-clock times."""
    con = sqlite3.connect(Path(directory) / "results.sqlite")
    tasks = con.execute("SELECT task_id, idx, params, final, hparams, queries, duality_gap, reg_duality_gap, kl_to_nash,"
                        " multiplayer_duality_gap FROM tasks ORDER BY task_id").fetchall()
    traces = con.execute("SELECT * FROM traces ORDER BY task_id, metric").fetchall()
    con.close()
    return tasks, traces
