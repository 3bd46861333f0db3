"""The results store: one SQLite database per run directory (``DIR/results.sqlite``), written by one process.

Schema::

    meta(key PRIMARY KEY, value)                 config_text, config_hash, config_source, nashlab_version, created
    tasks(task_id PRIMARY KEY, idx, game, solver, eta, beta, feedback, init, seed, iters, policy, players,
          params JSON, final JSON, hparams JSON, queries, duality_gap, reg_duality_gap, kl_to_nash,
          avg_duality_gap, multiplayer_duality_gap, wall_s, finished_at)
    traces(task_id, metric, iterations JSON, queries JSON, vals JSON, PRIMARY KEY(task_id, metric))

A task row exists only once its run finished: the rows of one batch and their traces go in one transaction, and the
database runs in WAL mode with ``synchronous=FULL``, so a process killed at any instant (SIGKILL included) leaves
either the whole batch or none of it. A rerun asks :meth:`Store.done` which tasks to skip.

The identity of a run directory is its config's hash (see :attr:`nashlab.experiments.config.SweepConfig.hash`):
opening it with a different config is refused.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

DB_NAME = "results.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    idx INTEGER NOT NULL,
    game TEXT NOT NULL,
    solver TEXT NOT NULL,
    eta REAL,
    beta REAL NOT NULL,
    feedback TEXT NOT NULL,
    init TEXT NOT NULL,
    seed INTEGER NOT NULL,
    iters INTEGER NOT NULL,
    policy TEXT NOT NULL,
    players INTEGER,
    params TEXT NOT NULL,
    final TEXT NOT NULL,
    hparams TEXT NOT NULL,
    queries REAL,
    duality_gap REAL,
    reg_duality_gap REAL,
    kl_to_nash REAL,
    avg_duality_gap REAL,
    multiplayer_duality_gap REAL,
    wall_s REAL,
    finished_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_game_beta ON tasks (game, beta, solver);
CREATE TABLE IF NOT EXISTS traces (
    task_id TEXT NOT NULL REFERENCES tasks(task_id),
    metric TEXT NOT NULL,
    iterations TEXT NOT NULL,
    queries TEXT NOT NULL,
    vals TEXT NOT NULL,
    PRIMARY KEY (task_id, metric)
);
"""

_INDEXED = ("duality_gap", "reg_duality_gap", "kl_to_nash", "avg_duality_gap", "multiplayer_duality_gap")


class ConfigMismatch(ValueError):
    """The run directory holds results of another config."""


def _json(x: Any) -> str:
    # allow_nan: a diverging solver may report inf; JSON 'Infinity' round-trips through Python's json.
    return json.dumps(x, sort_keys=True, allow_nan=True)


class Store:
    """The results database of one run directory.

    Args:
        directory: the run directory (created if missing).
        readonly: open an existing store for reading only (``report`` and ``figs``).
    """

    def __init__(self, directory: str | Path, *, readonly: bool = False) -> None:
        self.directory = Path(directory)
        self.path = self.directory / DB_NAME
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(f"no results store at {self.path} (run `nashlab run` with --out {directory})")
            self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, isolation_level=None)  # explicit BEGIN/COMMIT below
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.executescript(_SCHEMA)
        self.conn.row_factory = sqlite3.Row

    # ------------------------------------------------------------------------------------------------- meta

    def meta(self) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self.conn.execute("SELECT key, value FROM meta")}

    def bind_config(self, text: str, config_hash: str, source: str, version: str) -> bool:
        """Record the config on first use; refuse a different one later.

        Returns:
            ``True`` if the store was new, ``False`` if it already held this config (a resume).

        Raises:
            ConfigMismatch: the directory holds results of a config with another hash.
        """
        meta = self.meta()
        if "config_hash" in meta:
            if meta["config_hash"] != config_hash:
                raise ConfigMismatch(
                    f"{self.directory} holds results of a different config (stored hash {meta['config_hash'][:12]} "
                    f"from {meta.get('config_source', '?')}, this config {config_hash[:12]} from {source}); "
                    f"use another --out directory, or delete {self.path} to start over"
                )
            return False
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [
                ("config_text", text), ("config_hash", config_hash), ("config_source", source),
                ("nashlab_version", version), ("created", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
            ])
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return True

    # ------------------------------------------------------------------------------------------------ write

    def done(self) -> set[str]:
        """Ids of the finished tasks."""
        return {r[0] for r in self.conn.execute("SELECT task_id FROM tasks")}

    def write(self, rows: Iterable[tuple[int, dict[str, Any], dict[str, Any]]]) -> None:
        """Insert finished tasks and their traces in ONE transaction.

        Args:
            rows: ``(idx, params, result)`` per task; ``params`` from ``Task.params()``, ``result`` a record of
                :func:`nashlab.experiments.tasks.run_batch` (``task_id``, ``final``, ``trace``, ``queries``,
                ``hparams``, ``wall_s``).
        """
        now = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for idx, params, res in rows:
                final = res["final"]
                self.conn.execute(
                    "INSERT OR REPLACE INTO tasks (task_id, idx, game, solver, eta, beta, feedback, init, seed, iters,"
                    " policy, players, params, final, hparams, queries, duality_gap, reg_duality_gap, kl_to_nash,"
                    " avg_duality_gap, multiplayer_duality_gap, wall_s, finished_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (res["task_id"], idx, params["game"], params["solver"], params["eta"], params["beta"],
                     params["feedback"], params["init"], params["seed"], params["iters"], params["policy"],
                     params["players"], _json(params), _json(final), _json(res.get("hparams", {})), res["queries"],
                     *(final.get(m) for m in _INDEXED), res.get("wall_s"), now),
                )
                trace = res["trace"]
                its = _json(trace["iteration"])
                qs = _json(trace.get("queries", []))
                self.conn.executemany(
                    "INSERT OR REPLACE INTO traces (task_id, metric, iterations, queries, vals) VALUES (?, ?, ?, ?, ?)",
                    [(res["task_id"], m, its, qs, _json(v)) for m, v in trace.items() if m not in ("iteration", "queries")],
                )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------------------------------------- read

    def tasks(self) -> list[dict[str, Any]]:
        """Every finished task, in grid order: its parameters, final metrics, queries, resolved hyper-parameters."""
        out = []
        for r in self.conn.execute("SELECT * FROM tasks ORDER BY idx"):
            out.append({
                "task_id": r["task_id"], **json.loads(r["params"]), "final": json.loads(r["final"]),
                "queries": r["queries"], "hparams": json.loads(r["hparams"]), "wall_s": r["wall_s"],
            })
        return out

    def traces(self, metric: str) -> dict[str, dict[str, list[float]]]:
        """``task_id -> {"iteration": [...], "queries": [...], "value": [...]}`` for one metric."""
        out = {}
        for r in self.conn.execute("SELECT task_id, iterations, queries, vals FROM traces WHERE metric = ?", (metric,)):
            out[r["task_id"]] = {"iteration": json.loads(r["iterations"]), "queries": json.loads(r["queries"]),
                                 "value": json.loads(r["vals"])}
        return out

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
