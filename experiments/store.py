"""The results store: one SQLite database per run directory (``DIR/results.sqlite``), written by one process.

Schema::

    meta(key PRIMARY KEY, value)                 config_text, config_hash, config_source, nashlab_version, created
    tasks(task_id PRIMARY KEY, idx, game, solver, eta, beta, feedback, init, seed, iters, policy, num_players,
          params JSON, final JSON, hparams JSON, queries, duality_gap, reg_duality_gap, kl_to_nash,
          avg_duality_gap, multiplayer_duality_gap, wall_s, finished_at)
    traces(task_id, metric, iterations JSON, queries JSON, vals JSON, PRIMARY KEY(task_id, metric))

The JSON columns are strict JSON, written by the one sanitiser (:func:`nashlab.json_plain.to_plain`,
``nonfinite="text"``): a metric that is not finite is stored as the string ``"NaN"``, ``"Infinity"`` or
``"-Infinity"`` and read back as that float (:func:`nashlab.json_plain.from_text`), so a diverged run's +inf stays
apart from a NaN. Stores written before held the non-standard tokens ``NaN``/``Infinity``; they read the same.

Older stores. The player count was the column ``players`` (and the key ``players`` in ``params``) before it was named
``num_players`` like everywhere else. A writer that opens such a store renames the column in place, in one
transaction (``ALTER TABLE tasks RENAME COLUMN players TO num_players``), and every reader maps ``params``'
``players`` to ``num_players``; task ids hash the old name (:meth:`nashlab.experiments.config.Task.identity`), so the
store resumes and reports as before.

A task row exists only once its run finished: the rows of one batch and their traces go in one transaction, and the
database runs in WAL mode with ``synchronous=FULL``, so a process killed at any instant (SIGKILL included) leaves
either the whole batch or none of it. A rerun asks :meth:`Store.done` which tasks to skip.

The identity of a run directory is its config's hash (see :attr:`nashlab.experiments.config.SweepConfig.hash`):
opening it with a different config is refused.

One writer at a time: a writing :class:`Store` holds an exclusive ``flock`` on ``DIR/results.sqlite.lock`` for as long
as it is open, so a second ``nashlab run`` on the same directory is refused at once instead of computing the same
tasks twice. The kernel drops the lock when its process dies, whatever kills it, so a killed run never leaves a
stale lock behind.

Reading (``report``, ``figs``) needs no write access: a store in a read-only folder or on a read-only file system
is opened with ``immutable=1`` (see :func:`_connect_readonly`).

Every SQLite failure (a corrupt, truncated or foreign file, a folder that cannot be written) is raised as a
:class:`StoreError`, a ``ValueError`` naming the file, so the command line reports it in one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from nashlab.json_plain import from_text, to_plain

DB_NAME = "results.sqlite"
LOCK_NAME = DB_NAME + ".lock"

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
    num_players INTEGER,
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


class StoreError(ValueError):
    """The results store cannot be opened, read or written (corrupt, foreign, locked or not writable)."""


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """Open a store for reading, also where nothing may be written.

    A reader of a WAL database maps its ``-shm`` index file and creates it when missing, and the last writer deletes
    it on a clean close, so ``mode=ro`` alone fails ("unable to open database file") in a read-only folder or on a
    read-only file system. There, ``immutable=1`` tells SQLite the file cannot change: it reads the database file
    directly, without the ``-shm`` file and without locks. That is safe exactly because no process can write there.
    It would also ignore a ``-wal`` file, so when one holds transactions (a writer was killed before merging them),
    plain ``mode=ro`` is used, which reads them when the ``-shm`` file exists as well.
    """
    wal = path.with_name(path.name + "-wal")
    writable = os.access(path.parent, os.W_OK)
    pending = wal.exists() and wal.stat().st_size > 0
    flags = "mode=ro" if writable or pending else "mode=ro&immutable=1"
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?{flags}", uri=True)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        conn.close()
        if pending and not writable:
            raise StoreError(
                f"{path}: cannot read a store in a read-only folder while its write-ahead log {wal.name} holds "
                f"transactions not yet merged into it (its run was killed); copy the folder somewhere writable and "
                f"read the copy ({exc})") from None
        raise
    return conn


def _lock(directory: Path):
    """Take the run directory's writer lock (see the module docstring); return the open lock file, or ``None`` where
    ``fcntl`` does not exist (Windows)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    f = open(directory / LOCK_NAME, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "?"
        f.close()
        raise StoreError(f"{directory} is in use by another nashlab run (pid {holder}); wait for it to finish, "
                         f"or use another --out directory") from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


def _json(x: Any) -> str:
    """Strict JSON of ``x``: a non-finite metric is written as text (``"Infinity"``), see the module docstring."""
    return json.dumps(to_plain(x, nonfinite="text"), sort_keys=True, allow_nan=False)


def _params(text: str) -> dict[str, Any]:
    """A stored task's parameters, ``players`` (stores written before the rename) read as ``num_players``."""
    params = json.loads(text)
    if "players" in params:
        params.setdefault("num_players", params.pop("players"))
    return params


class Store:
    """The results database of one run directory.

    Args:
        directory: the run directory (created if missing).
        readonly: open an existing store for reading only (``report`` and ``figs``).
    """

    def __init__(self, directory: str | Path, *, readonly: bool = False) -> None:
        self.directory = Path(directory)
        self.path = self.directory / DB_NAME
        self._lockfile = None
        if readonly:
            if not self.path.is_file():
                raise FileNotFoundError(f"no results store at {self.path} (run `nashlab run` with --out {directory})")
            with self._translate("cannot open"):
                self.conn = _connect_readonly(self.path)
                self._check_tables(allow_new=False)
        else:
            self._make_directory()
            self._lockfile = self._open_lock()
            try:
                with self._translate("cannot open"):
                    self.conn = sqlite3.connect(self.path, isolation_level=None)  # explicit BEGIN/COMMIT below
                    self._check_tables(allow_new=True)
                    self.conn.execute("PRAGMA journal_mode=WAL")
                    self.conn.execute("PRAGMA synchronous=FULL")
                    self.conn.executescript(_SCHEMA)
                    self._migrate()
            except BaseException:
                self._lockfile and self._lockfile.close()
                raise
        self.conn.row_factory = sqlite3.Row

    def _check_tables(self, *, allow_new: bool) -> None:
        """Refuse a database that is not a store (a writer may start one in a new or 0-byte file)."""
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if {"meta", "tasks", "traces"} <= tables or (allow_new and not tables):
            return
        self.conn.close()
        raise StoreError(f"{self.path} is not a nashlab results store (it has no meta, tasks and traces tables"
                         f"{'; the file is empty' if not tables else ''}); move it away, or use another --out")

    def _migrate(self) -> None:
        """Rename an older store's ``players`` column to ``num_players``, in one transaction (a writer only; the
        lock is held, so no other nashlab process writes meanwhile)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            cols = {r[1] for r in self.conn.execute("PRAGMA table_info(tasks)")}
            if "players" in cols and "num_players" not in cols:
                self.conn.execute("ALTER TABLE tasks RENAME COLUMN players TO num_players")
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def _make_directory(self) -> None:
        d = self.directory
        if d.exists() and not d.is_dir():
            raise StoreError(f"run directory {d} is a file, not a directory; use another --out")
        try:
            d.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            above = next((p for p in d.parents if p.exists() and not p.is_dir()), d.parent)
            raise StoreError(f"cannot create run directory {d}: {above} is a file, not a directory") from None
        except OSError as exc:
            raise StoreError(f"cannot create run directory {d}: {exc.strerror}") from None

    def _open_lock(self):
        try:
            return _lock(self.directory)
        except StoreError:
            raise
        except OSError as exc:
            raise StoreError(f"cannot write in run directory {self.directory}: {exc.strerror} (`nashlab report` and "
                             f"`nashlab figs` can read a store in a read-only folder; a run needs a writable one)"
                             ) from None

    @contextlib.contextmanager
    def _translate(self, doing: str) -> Iterator[None]:
        """Re-raise SQLite's and JSON's errors as one :class:`StoreError` that names the file."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{doing} the results store {self.path}: {exc} (a corrupt or foreign file? move it "
                             f"away, or use another --out directory)") from None
        except json.JSONDecodeError as exc:
            raise StoreError(f"{doing} the results store {self.path}: a damaged row ({exc})") from None

    # ------------------------------------------------------------------------------------------------- meta

    def meta(self) -> dict[str, str]:
        with self._translate("cannot read"):
            return {r["key"]: r["value"] for r in self.conn.execute("SELECT key, value FROM meta")}

    def bind_config(self, text: str, config_hash: str, source: str, version: str) -> bool:
        """Record the config on first use; refuse a different one later.

        The check and the insert are one transaction, so two runs that start on a new directory at the same moment
        cannot both record a config.

        Returns:
            ``True`` if the store was new, ``False`` if it already held this config (a resume).

        Raises:
            ConfigMismatch: the directory holds results of a config with another hash.
        """
        with self._translate("cannot write"):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                meta = self.meta()
                if "config_hash" in meta:
                    if meta["config_hash"] != config_hash:
                        raise ConfigMismatch(
                            f"{self.directory} holds results of a different config (stored hash "
                            f"{meta['config_hash'][:12]} from {meta.get('config_source', '?')}, this config "
                            f"{config_hash[:12]} from {source}); use another --out directory, or delete {self.path} "
                            f"to start over"
                        )
                    self.conn.execute("ROLLBACK")
                    return False
                self.conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [
                    ("config_text", text), ("config_hash", config_hash), ("config_source", source),
                    ("nashlab_version", version), ("created", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
                ])
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        return True

    # ------------------------------------------------------------------------------------------------ write

    def done(self) -> set[str]:
        """Ids of the finished tasks."""
        with self._translate("cannot read"):
            return {r[0] for r in self.conn.execute("SELECT task_id FROM tasks")}

    def write(self, rows: Iterable[tuple[int, dict[str, Any], dict[str, Any]]]) -> None:
        """Insert finished tasks and their traces in ONE transaction.

        Args:
            rows: ``(idx, params, result)`` per task; ``params`` from ``Task.params()``, ``result`` a record of
                :func:`nashlab.experiments.tasks.run_batch` (``task_id``, ``final``, ``trace``, ``queries``,
                ``hparams``, ``wall_s``).
        """
        now = time.strftime("%Y-%m-%dT%H:%M:%S")
        with self._translate("cannot write"):
            self._write(rows, now)

    def _write(self, rows, now: str) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for idx, params, res in rows:
                final = res["final"]
                self.conn.execute(
                    "INSERT OR REPLACE INTO tasks (task_id, idx, game, solver, eta, beta, feedback, init, seed, iters,"
                    " policy, num_players, params, final, hparams, queries, duality_gap, reg_duality_gap, kl_to_nash,"
                    " avg_duality_gap, multiplayer_duality_gap, wall_s, finished_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (res["task_id"], idx, params["game"], params["solver"], params["eta"], params["beta"],
                     params["feedback"], params["init"], params["seed"], params["iters"], params["policy"],
                     params["num_players"], _json(params), _json(final), _json(res.get("hparams", {})), res["queries"],
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
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------------------------------------- read

    def tasks(self) -> list[dict[str, Any]]:
        """Every finished task, in grid order: its parameters (``num_players``, whatever the store's age), final
        metrics, queries, resolved hyper-parameters."""
        out = []
        with self._translate("cannot read"):
            for r in self.conn.execute("SELECT * FROM tasks ORDER BY idx"):
                out.append({
                    "task_id": r["task_id"], **_params(r["params"]), "final": from_text(json.loads(r["final"])),
                    "queries": r["queries"], "hparams": json.loads(r["hparams"]), "wall_s": r["wall_s"],
                })
        return out

    def traces(self, metric: str) -> dict[str, dict[str, list[float]]]:
        """``task_id -> {"iteration": [...], "queries": [...], "value": [...]}`` for one metric."""
        out = {}
        with self._translate("cannot read"):
            for r in self.conn.execute("SELECT task_id, iterations, queries, vals FROM traces WHERE metric = ?",
                                       (metric,)):
                out[r["task_id"]] = {"iteration": json.loads(r["iterations"]),
                                     "queries": from_text(json.loads(r["queries"])),
                                     "value": from_text(json.loads(r["vals"]))}
        return out

    def close(self) -> None:
        self.conn.close()
        if self._lockfile is not None:
            self._lockfile.close()  # releases the flock
            self._lockfile = None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
