"""Issue 11 §1/§2 for sweeps and outputs: rules as TOML tables (the same tasks, ids and hash as the string form), one
name for the player count (``num_players``; ``players`` a deprecated alias, an older store migrated in place and
resumed), and one JSON sanitiser (every writer produces strict JSON for NaN/±inf)."""

from __future__ import annotations

import doctest
import hashlib
import json
import math
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

import nashlab.json_plain as json_plain
from nashlab.experiments.config import ConfigError, expand, parse_config
from nashlab.experiments.report import build_report, report_json
from nashlab.experiments.runner import run_sweep
from nashlab.experiments.store import DB_NAME, Store
from nashlab.json_plain import from_text, to_plain
from nashlab.solvers.solve import SolveResult

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from fake_tasks import fake_run_batch  # noqa: E402

REG = ("egpo", "nash-mp", "mwu", "mnpo", "td-mnpo")
TINY = (HERE / "tiny.toml").read_text(encoding="utf-8")


def _strict_loads(text: str):
    """``json.loads`` that refuses the non-standard ``NaN``/``Infinity`` tokens, as a strict parser does."""
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")
    return json.loads(text, parse_constant=refuse)


def _parse(text: str, **kw):
    return parse_config(text, registry=REG, check_games=False, check_hparams=False, **kw)


def _ids(cfg) -> list[str]:
    return [t.task_id for t in expand(cfg)]


# ------------------------------------------------------------------------------------------------- rules as tables

STRING_FORM = """
[sweep]
iters = 40
every = 10
seeds = 2
beta = [0.1]
solvers = ["egpo", "nash-mp", "mwu"]

[solvers.egpo]
eta = [0.5, 0.8]
beta = [0.0, 0.1]

[solvers.mwu]
eta = { "0.1" = [0.2] }
iters = 20

[[games]]
name = "rps"
spec = "cyclic:n=3"

[[games]]
name = "g3"
spec = "cyclic:n=3"
num_players = 3
solvers = ["mnpo"]
"""

TABLE_FORM = """
[sweep]
iters = 40
every = 10
seeds = 2
beta = [0.1]
solvers = [{ name = "egpo", eta = [0.5, 0.8], beta = [0.0, 0.1] }, { name = "nash-mp" },
           { name = "mwu", eta = { "0.1" = [0.2] }, iters = 20 }]

[[games]]
name = "rps"
spec = "cyclic:n=3"

[[games]]
name = "g3"
spec = "cyclic:n=3"
num_players = 3
solvers = [{ name = "mnpo" }]
"""


def test_rule_tables_give_the_string_forms_tasks_ids_and_hash():
    s, t = _parse(STRING_FORM), _parse(TABLE_FORM)
    assert t == s and t.hash == s.hash
    assert expand(t) == expand(s) and _ids(t) == _ids(s)
    # and the options took effect: egpo's two η × two β, mwu's η per β and its own iters
    egpo = [x for x in expand(t) if x.solver == "egpo"]
    assert {(x.eta, x.beta) for x in egpo} == {(0.5, 0.0), (0.8, 0.0), (0.5, 0.1), (0.8, 0.1)}
    mwu = [x for x in expand(t) if x.solver == "mwu"]
    assert {(x.eta, x.iters) for x in mwu} == {(0.2, 20)}
    # 2 seeds × (egpo 4 + nash-mp 1 + mwu 1) on rps + 2 seeds × mnpo on g3
    assert len(expand(t)) == 2 * 6 + 2


def test_a_single_rule_table_and_a_mixed_list():
    one = _parse(STRING_FORM.replace('solvers = ["egpo", "nash-mp", "mwu"]', 'solvers = { name = "egpo" }')
                 .replace("[solvers.mwu]", "[solvers.nash-mp]"))
    assert one.solvers == ("egpo",)
    mixed = _parse(TABLE_FORM.replace('{ name = "nash-mp" }', '"nash-mp"'))
    assert mixed.hash == _parse(STRING_FORM).hash


@pytest.mark.parametrize("edit, message", [
    (('{ name = "nash-mp" }', '{ name = "nash-mp", etta = [0.1] }'),
     "unknown key 'sweep.solvers[1].etta'; did you mean 'eta'? valid keys in sweep.solvers[1]: name, eta, beta, "
     "iters, every"),
    (('{ name = "nash-mp" }', '{ eta = [0.1] }'), "sweep.solvers[1].name must be a non-empty string"),
    (('{ name = "nash-mp" }', '{ name = "nash-mq" }'), "sweep.solvers[1].name: unknown solver 'nash-mq'; did you "
                                                       "mean 'nash-mp'?"),
    (('{ name = "nash-mp" }', '{ name = "egpo" }'), "sweep.solvers has repeated values"),
    (('{ name = "nash-mp" }', '{ name = "nash-mp", eta = [-1.0] }'), "sweep.solvers[1].eta must hold finite "
                                                                     "numbers > 0; got -1.0"),
    (('solvers = [{ name = "mnpo" }]', 'solvers = [{ name = "mnpo", eta = [0.1] }]'),
     "unknown key 'games[1].solvers[0].eta'; valid keys in games[1].solvers[0]: name"),
    (('solvers = [{ name = "mnpo" }]', 'solvers = [3]'), "games[1].solvers must be \"all\", a rule or a non-empty "
                                                         "list of rules"),
])
def test_bad_rule_tables_are_one_line_naming_the_key(edit, message):
    with pytest.raises(ConfigError) as exc:
        _parse(TABLE_FORM.replace(*edit))
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_a_rules_options_given_twice_are_refused():
    text = TABLE_FORM + '\n[solvers.egpo]\nbeta = [0.1]\n'
    with pytest.raises(ConfigError, match=r"^sweep.solvers\[0\]: the options of 'egpo' are given twice, here and in "
                                          r"\[solvers.egpo\]; keep one$"):
        _parse(text)


# ------------------------------------------------------------------------------------------------------ num_players


def test_players_is_a_deprecated_alias_with_one_stderr_line(capsys):
    new = _parse(TINY, source="tiny.toml")
    assert capsys.readouterr().err == ""
    old = _parse(TINY.replace("num_players = 3", "players = 3"), source="tiny.toml")
    err = capsys.readouterr().err.splitlines()
    assert err == ["nashlab: tiny.toml: games[2].players: 'players' is deprecated, write 'num_players'"]
    assert old == new and old.hash == new.hash and _ids(old) == _ids(new)
    assert {t.num_players for t in expand(new) if t.game == "rps-3p"} == {3}
    _parse(TINY.replace("num_players = 3", "players = 3"), warn_deprecated=False)
    assert capsys.readouterr().err == ""


def test_players_and_num_players_together_are_refused():
    with pytest.raises(ConfigError, match=r"^games\[2\] has both num_players and players \(its deprecated alias\); "
                                          r"keep num_players$"):
        _parse(TINY.replace("num_players = 3", "num_players = 3\nplayers = 3"))


def test_task_ids_and_config_hash_are_those_of_the_key_players():
    """The id is ``sha256`` of the parameters under the old key, computed here by hand, so stores written before the
    rename resume; likewise the config hash hashes ``players``."""
    cfg = _parse(TINY)
    for t in expand(cfg):
        params = t.params()
        assert "num_players" in params and "players" not in params
        legacy = {("players" if k == "num_players" else k): v for k, v in params.items()}
        assert t.task_id == hashlib.sha256(json.dumps(legacy, sort_keys=True).encode()).hexdigest()[:20]
    canonical = cfg.canonical()
    assert [g["players"] for g in canonical["games"]] == [None, None, 3]
    assert cfg.hash == hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


#: The schema of the store before ``players`` was renamed (verbatim, as stores on disk have it).
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, idx INTEGER NOT NULL, game TEXT NOT NULL, solver TEXT NOT NULL, eta REAL,
    beta REAL NOT NULL, feedback TEXT NOT NULL, init TEXT NOT NULL, seed INTEGER NOT NULL, iters INTEGER NOT NULL,
    policy TEXT NOT NULL, players INTEGER, params TEXT NOT NULL, final TEXT NOT NULL, hparams TEXT NOT NULL,
    queries REAL, duality_gap REAL, reg_duality_gap REAL, kl_to_nash REAL, avg_duality_gap REAL,
    multiplayer_duality_gap REAL, wall_s REAL, finished_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_game_beta ON tasks (game, beta, solver);
CREATE TABLE IF NOT EXISTS traces (
    task_id TEXT NOT NULL REFERENCES tasks(task_id), metric TEXT NOT NULL, iterations TEXT NOT NULL,
    queries TEXT NOT NULL, vals TEXT NOT NULL, PRIMARY KEY (task_id, metric)
);
"""


def _old_store(src: Path, dst: Path) -> None:
    """Copy the store in ``src`` into a store of the old schema in ``dst``, as the old code wrote it: the column and
    the ``params`` key ``players``, the non-finite tokens of Python's json, and the config text with ``players``."""
    dst.mkdir()
    old = sqlite3.connect(dst / DB_NAME)
    old.executescript(OLD_SCHEMA)
    new = sqlite3.connect(src / DB_NAME)
    for key, value in new.execute("SELECT key, value FROM meta"):
        old.execute("INSERT INTO meta VALUES (?, ?)", (key, value.replace("num_players = 3", "players = 3")))
    cols = [r[1] for r in new.execute("PRAGMA table_info(tasks)")]
    for row in new.execute("SELECT * FROM tasks"):
        r = dict(zip(cols, row))
        params = json.loads(r["params"])
        params["players"] = params.pop("num_players")
        r["params"] = json.dumps(params, sort_keys=True)
        r["players"] = r.pop("num_players")
        old.execute(f"INSERT INTO tasks ({', '.join(r)}) VALUES ({', '.join('?' * len(r))})", tuple(r.values()))
    old.executemany("INSERT INTO traces VALUES (?, ?, ?, ?, ?)", new.execute("SELECT * FROM traces").fetchall())
    old.commit()
    old.close()
    new.close()


def _columns(directory: Path) -> set[str]:
    con = sqlite3.connect(directory / DB_NAME)
    try:
        return {r[1] for r in con.execute("PRAGMA table_info(tasks)")}
    finally:
        con.close()


def _numbers(directory: Path) -> list:
    with Store(directory, readonly=True) as s:
        return [{k: v for k, v in t.items() if k != "wall_s"} for t in s.tasks()], s.traces("duality_gap")


def test_an_old_store_reports_resumes_and_is_migrated_in_place(tmp_path, capsys):
    cfg = _parse(TINY)
    full, part, old = tmp_path / "full", tmp_path / "part", tmp_path / "old"
    run_sweep(cfg, full, task_fn=fake_run_batch, progress=False)
    s = run_sweep(cfg, part, task_fn=fake_run_batch, progress=False, max_batches=4)
    assert 0 < s["ran"] < s["tasks"]
    _old_store(part, old)
    assert "players" in _columns(old) and "num_players" not in _columns(old)

    # read only: no migration, and the tasks say num_players (the multiplayer game's tasks among them)
    rep = build_report(old)
    assert "players" in _columns(old)
    assert rep["num_tasks"] == s["ran"] and rep["expected_tasks"] == s["tasks"]
    assert all("players" not in t and "num_players" in t for t in rep["tasks"])
    assert {t["num_players"] for t in rep["tasks"]} <= {None, 3}
    assert capsys.readouterr().err == ""  # the stored config's `players` is read back without the notice

    # resume: the writer renames the column, skips the stored tasks and runs the rest
    r = run_sweep(cfg, old, task_fn=fake_run_batch, progress=False)
    assert (r["skipped"], r["ran"]) == (s["ran"], s["tasks"] - s["ran"])
    assert "num_players" in _columns(old) and "players" not in _columns(old)
    assert _numbers(old) == _numbers(full)
    assert {t["num_players"] for t in build_report(old)["tasks"]} == {None, 3}
    # a second writer finds nothing to migrate
    with Store(old) as again:
        assert len(again.done()) == s["tasks"]


# ------------------------------------------------------------------------------------------------- one sanitiser

NONFINITE = {"final": {"kl_to_nash": math.nan, "duality_gap": math.inf, "reg_duality_gap": -math.inf},
             "trace": {"duality_gap": [0.5, math.inf], "kl_to_nash": np.array([math.nan, 0.1, math.nan])},
             "np": np.float64("nan"), "ok": np.float32(0.25)}


def test_to_plain_null_names_each_value_and_is_strict():
    warnings: list[str] = []
    out = to_plain(NONFINITE, warnings)
    _strict_loads(json.dumps(out, allow_nan=False))
    assert out["final"] == {"kl_to_nash": None, "duality_gap": None, "reg_duality_gap": None}
    assert out["trace"] == {"duality_gap": [0.5, None], "kl_to_nash": [None, 0.1, None]}
    assert out["np"] is None and out["ok"] == 0.25
    assert warnings == ["final.kl_to_nash is NaN", "final.duality_gap is +inf", "final.reg_duality_gap is -inf",
                        "trace.duality_gap[1] is +inf",
                        "trace.kl_to_nash: 2 of 3 entries are not finite (NaN at [0], [2])", "np is NaN"]


def test_to_plain_text_round_trips_through_from_text():
    out = to_plain(NONFINITE, nonfinite="text")
    text = json.dumps(out, allow_nan=False)
    back = from_text(_strict_loads(text))
    assert back["final"]["duality_gap"] == math.inf and back["final"]["reg_duality_gap"] == -math.inf
    assert math.isnan(back["final"]["kl_to_nash"]) and math.isnan(back["np"])
    assert back["trace"]["duality_gap"] == [0.5, math.inf]
    with pytest.raises(ValueError, match="nonfinite must be"):
        to_plain(1.0, nonfinite="zero")


def test_json_plain_doctests_run():
    """nashlab/json_plain.py sits in the root package, outside the packages tests/test_doctests.py collects."""
    result = doctest.testmod(json_plain, optionflags=doctest.ELLIPSIS)
    prompts = Path(json_plain.__file__).read_text(encoding="utf-8").count(">>> ")
    assert result.failed == 0 and result.attempted == prompts > 0


def _result() -> SolveResult:
    return SolveResult(policy=np.array([0.5, 0.5]), policy_avg=np.array([0.5, 0.5]),
                       final={"duality_gap": np.float64(0.0), "kl_to_nash": math.nan, "reg_duality_gap": math.inf},
                       trace={"iteration": [0, 10], "duality_gap": [0.5, 0.0], "kl_to_nash": [math.nan, math.nan]},
                       queries=10, solver="egpo", hparams={"eta": 0.5, "beta": 0.0}, samples=0,
                       nash_unique=np.bool_(False))


def test_solve_result_to_json_is_strict_with_a_warnings_list():
    warnings: list[str] = []
    out = _result().to_json(warnings)
    _strict_loads(json.dumps(out, allow_nan=False))
    assert out["final"] == {"duality_gap": 0.0, "kl_to_nash": None, "reg_duality_gap": None}
    assert out["nash_unique"] is False and out["policy"] == [0.5, 0.5]
    assert warnings == ["final.kl_to_nash is NaN", "final.reg_duality_gap is +inf",
                        "trace.kl_to_nash: 2 of 2 entries are not finite (NaN at [0], [1])"]
    # without a list the floats stay (for emit_json to name them), the rest converted the same way
    kept = _result().to_json()
    assert math.isnan(kept["final"]["kl_to_nash"]) and kept["final"]["reg_duality_gap"] == math.inf
    assert {k: v for k, v in kept.items() if k not in ("final", "trace")} == \
        {k: v for k, v in out.items() if k not in ("final", "trace")}


def _nonfinite_batch(batch):
    """The fake tasks, with the egpo tasks' final DG_β +inf, KL NaN and a trace with −inf in it."""
    out = fake_run_batch(batch)
    for t, rec in zip(batch, out):
        if t.solver == "egpo":
            rec["final"]["reg_duality_gap"] = math.inf
            rec["final"]["kl_to_nash"] = math.nan
            rec["trace"]["reg_duality_gap"][-1] = math.inf
            rec["trace"]["kl_to_nash"][0] = -math.inf
    return out


def test_store_and_report_write_strict_json_and_keep_inf_apart_from_nan(tmp_path):
    cfg = _parse(TINY)
    run_sweep(cfg, tmp_path, task_fn=_nonfinite_batch, progress=False)
    con = sqlite3.connect(tmp_path / DB_NAME)
    for row in con.execute("SELECT params, final, hparams FROM tasks"):
        for text in row:
            _strict_loads(text)
    for row in con.execute("SELECT iterations, queries, vals FROM traces"):
        for text in row:
            _strict_loads(text)
    con.close()
    with Store(tmp_path, readonly=True) as store:
        egpo = [t for t in store.tasks() if t["solver"] == "egpo"]
        kl = store.traces("kl_to_nash")
    assert egpo and all(t["final"]["reg_duality_gap"] == math.inf and math.isnan(t["final"]["kl_to_nash"])
                        for t in egpo)
    assert all(kl[t["task_id"]]["value"][0] == -math.inf for t in egpo)

    rep = build_report(tmp_path)
    egpo_rows = [r for tab in rep["tables"] for r in tab["rows"] if r["solver"] == "egpo"]
    assert egpo_rows and all(r["final_gap"] == math.inf for r in egpo_rows)  # +inf read back, not NaN
    data = report_json(tmp_path)
    _strict_loads(json.dumps(data, allow_nan=False))
    assert all(t["final"]["reg_duality_gap"] is None for t in data["tasks"] if t["solver"] == "egpo")
