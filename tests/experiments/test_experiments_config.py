"""Config schema: valid files expand into the grid; every kind of bad config is refused naming its key."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from nashlab.experiments.config import ConfigError, SweepConfig, expand, load_config, parse_config

REG = ("egpo", "nash-mp", "mwu", "mnpo", "inpo")
HERE = Path(__file__).parent

BASE = """
[sweep]
iters = 20
every = 5
seeds = [0, 1]
feedback = ["exact", "sampled:4"]
beta = [0.01, 0.1]
solvers = ["egpo", "mwu"]

[solvers.mwu]
beta = [0.0]

[[games]]
name = "rps"
spec = "cyclic:n=3"
ref = "random:seed={seed}"
"""


def parse(text: str, **kw) -> SweepConfig:
    kw.setdefault("registry", REG)
    kw.setdefault("check_hparams", False)
    return parse_config(text, **kw)


def test_grid_expansion_counts_and_order():
    cfg = parse(BASE)
    tasks = expand(cfg)
    # egpo: 2 β × 2 feedback × 2 seeds; mwu: its override β = 0 only → 1 × 2 × 2
    assert len(tasks) == 8 + 4
    assert {t.beta for t in tasks if t.solver == "mwu"} == {0.0}
    assert [t.ref for t in tasks[:2]] == ["random:seed=0", "random:seed=1"]  # {seed} substituted, seeds innermost
    assert len({t.task_id for t in tasks}) == len(tasks)
    assert all(t.eta is None for t in tasks)  # no eta list: each solver's default


def test_game_and_solver_overrides_intersect_and_players_restrict():
    text = BASE + """
[solvers.egpo]
eta = [0.5, 0.8]
beta = [0.0, 0.1]

[[games]]
name = "g3"
spec = "egpo:n=4,seed={seed}"
num_players = 3
solvers = ["mnpo"]
beta = [0.1]
"""
    tasks = expand(parse(text))
    egpo = [t for t in tasks if t.solver == "egpo"]
    assert {t.eta for t in egpo} == {0.5, 0.8} and {t.beta for t in egpo} == {0.0, 0.1}
    g3 = [t for t in tasks if t.game == "g3"]
    assert {t.solver for t in g3} == {"mnpo"} and {t.num_players for t in g3} == {3} and {t.beta for t in g3} == {0.1}
    assert {t.spec for t in g3} == {"egpo:n=4,seed=0", "egpo:n=4,seed=1"}


def test_hash_ignores_comments_and_key_order_but_not_values():
    a = parse(BASE)
    b = parse("# a comment\n" + BASE.replace('iters = 20\nevery = 5', 'every = 5\niters = 20'))
    c = parse(BASE.replace("iters = 20", "iters = 21"))
    assert a.hash == b.hash and a.hash != c.hash


def test_seeds_integer_means_range_and_random_init_resolves_per_seed():
    cfg = parse(BASE.replace("seeds = [0, 1]", "seeds = 3").replace('beta = [0.01, 0.1]', 'beta = [0.1]\ninit = ["random"]'))
    assert cfg.seeds == (0, 1, 2)
    assert {t.init for t in expand(cfg)} == {"random:seed=0", "random:seed=1", "random:seed=2"}


@pytest.mark.parametrize("edit, key", [
    # unknown keys, each level
    (lambda s: s + "\n[extra]\nx = 1\n", "'extra'"),
    (lambda s: s.replace("iters = 20", "iter = 20"), "'sweep.iter'"),
    (lambda s: s.replace('ref = "random', 'reff = "random'), "'games[0].reff'"),
    (lambda s: s.replace("[solvers.mwu]\nbeta", "[solvers.mwu]\nbetta"), "'solvers.mwu.betta'"),
    # bad values
    (lambda s: s.replace("iters = 20", "iters = 0"), "sweep.iters"),
    (lambda s: s.replace("iters = 20", 'iters = "20"'), "sweep.iters"),
    (lambda s: s.replace("every = 5", "every = 50"), "sweep.every"),
    (lambda s: s.replace("seeds = [0, 1]", "seeds = [0, 0]"), "sweep.seeds"),
    (lambda s: s.replace("seeds = [0, 1]", "seeds = [-1]"), "sweep.seeds"),
    (lambda s: s.replace('"sampled:4"', '"sampled:0"'), "sweep.feedback"),
    (lambda s: s.replace('"sampled:4"', '"noisy"'), "sweep.feedback"),
    (lambda s: s.replace("beta = [0.01, 0.1]", "beta = [-0.1]"), "sweep.beta"),
    (lambda s: s.replace("beta = [0.01, 0.1]", "beta = [nan]"), "sweep.beta"),
    (lambda s: s.replace("beta = [0.01, 0.1]", "beta = [0.01, 0.1]\neta = [0.0]"), "sweep.eta"),
    (lambda s: s.replace("beta = [0.01, 0.1]", 'beta = [0.01, 0.1]\ninit = ["best"]'), "sweep.init"),
    (lambda s: s.replace("beta = [0.01, 0.1]", 'beta = [0.01, 0.1]\npolicy = "cnn"'), "sweep.policy"),
    (lambda s: s.replace('solvers = ["egpo", "mwu"]', 'solvers = ["egpo", "adam"]'), "sweep.solvers"),
    (lambda s: s.replace("[solvers.mwu]", "[solvers.adam]"), "solvers.adam"),
    (lambda s: s.replace("[solvers.mwu]\nbeta = [0.0]", "[solvers.mwu]\nbeta = [0.0]\niters = -3"), "solvers.mwu.iters"),
    (lambda s: s.replace('spec = "cyclic:n=3"', 'spec = "rps:n=3"'), "games[0]"),
    (lambda s: s.replace('spec = "cyclic:n=3"', 'spec = "cyclic:n=3,size=4"'), "games[0]"),
    (lambda s: s.replace('ref = "random:seed={seed}"', 'ref = "peaked"'), "games[0]"),
    (lambda s: s.replace('spec = "cyclic:n=3"\n', ''), "games[0].spec"),
    (lambda s: s + '\n[[games]]\nname = "rps"\nspec = "cyclic:n=5"\n', "games[1].name"),
    (lambda s: s.replace('name = "rps"', 'name = "r p s"'), "games[0].name"),
    (lambda s: s + '\n[[games]]\nname = "p"\nspec = "cyclic:n=5"\nplayers = 1\n', "games[1].players"),
    (lambda s: s.replace("[sweep]", "[sweep\n"), "not valid TOML"),
])
def test_bad_config_refused_naming_the_key(edit, key):
    with pytest.raises(ConfigError) as err:
        parse(edit(BASE))
    assert key in str(err.value), str(err.value)


def test_unknown_key_message_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"^unknown key 'sweep.iter'; did you mean 'iters'\? valid keys in sweep: "
                                          r"iters, every, seeds, feedback, schedule, init, beta, eta"):
        parse(BASE.replace("iters = 20", "iter = 20"))
    with pytest.raises(ConfigError, match=r"^unknown key 'sweep.zzz'; valid keys in sweep: iters, "):
        parse(BASE.replace("iters = 20", "iters = 20\nzzz = 1"))
    with pytest.raises(ConfigError, match=r"^\[solvers\.mwuu\]: unknown solver 'mwuu'; did you mean 'mwu'\? valid: "):
        parse(BASE.replace("[solvers.mwu]", "[solvers.mwuu]"))


def test_missing_file_and_directory_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(IsADirectoryError):
        load_config(tmp_path)


def test_hyper_parameters_checked_by_the_solver_factory():
    from nashlab.solvers import SOLVERS

    reg = tuple(SOLVERS)
    with pytest.raises(ConfigError, match=r"solvers\.egpo .*eta"):
        parse(BASE + "\n[solvers.egpo]\neta = [1e9]\n", registry=reg, check_hparams=True)


def _config_files():
    pkg = resources.files("nashlab.experiments").joinpath("configs")
    return sorted(p.name for p in pkg.iterdir() if p.name.endswith(".toml"))


@pytest.mark.parametrize("name", _config_files() + ["tiny"])
def test_every_config_starts_with_the_command_that_runs_it(name):
    if name == "tiny":
        text = (HERE / "tiny.toml").read_text()
    else:
        text = resources.files("nashlab.experiments").joinpath("configs", name).read_text()
    first = text.splitlines()[0]
    assert re.match(r"^# .*nashlab (run|llm)", first), first


def test_packaged_default_loads_and_is_the_main_job():
    from nashlab.solvers import SOLVERS

    cfg = load_config(None)
    tasks = expand(cfg)
    assert set(cfg.solvers) == set(SOLVERS)  # every registered solver
    assert {t.solver for t in tasks} == set(SOLVERS)
    assert {0.01, 0.1} <= {t.beta for t in tasks} and 0.0 in {t.beta for t in tasks}
    assert {t.feedback.split(":")[0] for t in tasks} == {"exact", "sampled"}
    assert len(cfg.seeds) >= 3
    assert any(t.num_players for t in tasks) and any(t.spec.startswith("contextual") for t in tasks)
    # one task per (game, solver, β, η, feedback, init, schedule, seed) point of the grid: no duplicates
    assert len({t.task_id for t in tasks}) == len(tasks)
