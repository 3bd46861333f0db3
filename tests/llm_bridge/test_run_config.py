"""The typed LLM run config (nashlab.llm_bridge.config: RunConfig, ModelConfig, GameConfig, JudgeConfig, TrainConfig)
read through the one config layer (nashlab.toml_config.load_table): every key of every table of llm_tiny.toml
misspelled or mistyped is refused by the CLI in one line naming its dotted path / table and key (exit 2); keys of
another source/kind are refused; the deprecated ``opponent_samples`` is read as ``num_comparisons`` with one stderr
line (in a config, and in a run folder an older nashlab wrote, which still resumes); both names at once are refused."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tomllib
from pathlib import Path

import pytest

from nashlab.experiments.cli import main
from nashlab.llm_bridge.config import (GameConfig, JudgeConfig, ModelConfig, RunConfig, build_game, build_judge,
                                       load_config, parse_config, resolved_config, train_config, upgrade_run_folder)
from nashlab.llm_bridge.train_config import TrainConfig
from nashlab.toml_config import ConfigError, check_value, load_table, option

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "experiments" / "configs" / "llm_tiny.toml"
#: resolved_config of the code before the rename (git ee8510e), with the TOML text it read: every shipped LLM config of
#: that commit and its solver tables, and three written for it (custom games, path / smollm2 models, a reward-model
#: judge): what those run folders' config.json hold.
BEFORE = Path(__file__).with_name("data") / "config_json_before_num_comparisons.json"


def _toml(data: dict) -> str:
    """TOML text of a run config (tables, one level of [solvers.<name>] sub-tables)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(v)

    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for name, table in data.items():
        if not isinstance(table, dict):
            continue
        lines.append(f"[{name}]")
        lines += [f"{k} = {value(v)}" for k, v in table.items() if not isinstance(v, dict)]
        for sub, t in table.items():
            if isinstance(t, dict):
                lines.append(f'[{name}."{sub}"]')
                lines += [f"{k} = {value(v)}" for k, v in t.items()]
    return "\n".join(lines) + "\n"


def _one_line(capsys, argv) -> str:
    rc = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, (rc, err)
    return err[0]


def _wrong(v):
    return 3 if isinstance(v, str) else "x"


def _cases():
    """``(id, data, needle, also)`` per key of every table of llm_tiny.toml: a misspelling (a doubled last letter)
    must name the dotted path and suggest the key; a wrong type must name the table, the key and the value."""
    data = tomllib.loads(TINY.read_text())
    out = []
    for table, t in data.items():
        bad = json.loads(json.dumps(data))
        bad[table + table[-1]] = bad.pop(table)
        out.append((f"{table}-misspelled", bad, f"unknown key '{table}{table[-1]}'; did you mean '{table}'?", ""))
        bad = json.loads(json.dumps(data))
        bad[table] = 3
        out.append((f"{table}-not-a-table", bad, f"{table} must be a table ([{table}", "; got 3"))
        for key, v in t.items():
            if table == "solvers":
                if key != "optimistic-inpo":  # a user rule's table: any name far from the registered ones passes
                    bad = json.loads(json.dumps(data))
                    bad["solvers"] = {(k + k[-1] if k == key else k): x for k, x in t.items()}
                    out.append((f"solvers.{key}-misspelled", bad,
                                f"[solvers.{key}{key[-1]}]: unknown solver '{key}{key[-1]}'; did you mean '{key}'?", ""))
                for k2, v2 in v.items():  # [solvers.<name>] keys
                    bad = json.loads(json.dumps(data))
                    bad["solvers"][key] = {(k2 + k2[-1] if k == k2 else k): x for k, x in v.items()}
                    out.append((f"solvers.{key}.{k2}-misspelled", bad,
                                f"unknown key 'solvers.{key}.{k2}{k2[-1]}'; did you mean '{k2}'?", ""))
                    bad = json.loads(json.dumps(data))
                    bad["solvers"][key][k2] = _wrong(v2)
                    out.append((f"solvers.{key}.{k2}-wrong-type", bad, f"[solvers.{key}] {k2} must be ",
                                repr(_wrong(v2))))
                continue
            bad = json.loads(json.dumps(data))
            bad[table] = {(key + key[-1] if k == key else k): x for k, x in t.items()}
            out.append((f"{table}.{key}-misspelled", bad,
                        f"unknown key '{table}.{key}{key[-1]}'; did you mean '{key}'? valid keys in [{table}]: ", ""))
            bad = json.loads(json.dumps(data))
            bad[table][key] = _wrong(v)
            out.append((f"{table}.{key}-wrong-type", bad, f"[{table}] {key} must be ", repr(_wrong(v))))
    return out


def test_the_cases_cover_every_key_of_llm_tiny():
    data = tomllib.loads(TINY.read_text())
    keys = sum(len(t) for n, t in data.items() if n != "solvers") + sum(len(t) for t in data["solvers"].values())
    rule_tables = len(data["solvers"]) - 1  # each misspelled, but the user rule's (optimistic-inpo)
    assert len(_cases()) == 2 * len(data) + 2 * keys + rule_tables == 2 * 5 + 2 * (7 + 5 + 1 + 15 + 7) + 4


@pytest.mark.parametrize("data, needle, also", [pytest.param(d, n, a, id=i) for i, d, n, a in _cases()])
def test_every_key_of_llm_tiny_misspelled_or_mistyped_is_one_line(tmp_path, capsys, data, needle, also):
    path = tmp_path / "run.toml"
    path.write_text(_toml(data))
    line = _one_line(capsys, ["llm", "train", "--config", str(path), "--quiet"])
    assert f"{path}: " in line and needle in line and also in line, line


def test_keys_of_another_source_or_kind_are_refused_in_one_line(tmp_path, capsys):
    for text, needle in [
        ('[model]\nsource = "smollm2"\nlayers = 2\n[game]\n', "[model] layers does not apply to source = 'smollm2'"),
        ('[model]\nsource = "tiny"\npath = "x"\n[game]\n', "[model] path does not apply to source = 'tiny'"),
        ('[model]\n[game]\nkind = "custom"\nprompts = ["p"]\nactions = ["a", "b"]\nnum_actions = 2\n',
         "[game] num_actions does not apply to kind = 'custom'"),
        ('[model]\n[game]\nkind = "custom"\nprompts = ["p"]\nactions = ["a", "b"]\nP = [[0.5, 1], [0, 0.5]]\n'
         'generator = "cyclic"\n', "[game] generator does not apply when P is given"),
        ('[model]\n[game]\n[judge]\nmode = "reward"\n', "[judge] mode does not apply to kind = 'known-nash'"),
        ('[model]\n[game]\n[judge]\nkind = "reward-model"\n', "[judge] kind = 'reward-model' needs 'path'"),
        ('[model]\nsource = "onnx"\n[game]\n', "[model] source must be 'tiny', 'path' or 'smollm2'; got 'onnx'"),
        ('[model]\n[game]\nkind = "custom"\nprompts = ["p"]\nactions = ["a", 3]\n', "[game] actions must be "),
    ]:
        path = tmp_path / "run.toml"
        path.write_text(text)
        line = _one_line(capsys, ["llm", "train", "--config", str(path), "--quiet"])
        assert needle in line and str(path) in line, line


# ------------------------------------------------------------------------------------------------ typed objects


def test_load_config_is_frozen_typed_dataclasses():
    cfg = load_config(str(TINY))
    assert isinstance(cfg, RunConfig) and isinstance(cfg.model, ModelConfig) and isinstance(cfg.game, GameConfig)
    assert isinstance(cfg.judge, JudgeConfig) and isinstance(cfg.train, TrainConfig)
    assert (cfg.model.hidden, cfg.model.path, cfg.game.contexts, cfg.game.margin, cfg.train.num_comparisons) == \
        (64, None, 8, 1.0, 8)
    assert isinstance(cfg.game.margin, float) and cfg.judge.mode is None  # defaults of its kind; None: not its kind
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.model.hidden = 8
    assert train_config(cfg, "egpo").eta == 0.9 and train_config(cfg, "omwu").iterations == 80
    assert train_config(cfg).eta == 1.0
    game, words = build_game(cfg.game)
    assert build_game(resolved_config(cfg)["game"])[1] == words  # a run folder's recorded table builds the same
    assert type(build_judge(cfg.judge, game)).__name__ == "KnownNashJudge"


def test_resolved_config_is_the_json_of_the_dataclasses_without_what_does_not_apply():
    cfg = load_config(str(TINY))
    whole = resolved_config(cfg, "sppo")
    model = {f.name: getattr(cfg.model, f.name) for f in dataclasses.fields(ModelConfig)}
    assert whole["model"] == {k: v for k, v in model.items() if v is not None}
    assert whole["train"] == json.loads(json.dumps(dataclasses.asdict(train_config(cfg, "sppo"))))
    assert whole["train"]["lr_final"] == 0.002 and whole["train"]["eta"] == 0.5
    assert parse_config(json.loads(json.dumps({**whole, "train": {**whole["train"], "solver": "sppo"}}))).game == \
        cfg.game  # the recorded form reads back as the same tables


def test_the_generic_layer_declares_range_choice_and_kind_once():
    @dataclasses.dataclass(frozen=True)
    class Opts:
        kind: str = "a"
        n: int | None = option(3, lo=1, hi=9, only=("kind", "a"))

        def __post_init__(self):
            from nashlab.toml_config import check_fields

            check_fields(self)

    assert load_table(Opts, {}, "[o]").n == 3 and load_table(Opts, {"kind": "b"}, "[o]").n is None
    for table, msg in [({"n": 0}, "[o] n must be an integer from 1 to 9; got 0"),
                       ({"n": True}, "[o] n must be an integer from 1 to 9; got True"),
                       ({"kind": "b", "n": 2}, "[o] n does not apply to kind = 'b'"),
                       ({"m": 2}, "unknown key 'o.m'; valid keys in [o]: kind, n")]:
        with pytest.raises(ConfigError) as err:
            load_table(Opts, table, "[o]", "o")
        assert str(err.value) == msg
    from typing import Literal

    assert check_value([[1, 2]], tuple[tuple[float, ...], ...], "P") == ((1.0, 2.0),)
    with pytest.raises(ConfigError, match=r"^m must be 'x' or 'y'; got 'z'$"):
        check_value("z", Literal["x", "y"], "m")


# ------------------------------------------------------------------------------------ the deprecated old name


OLD = "[model]\nhidden = 16\nlayers = 1\nheads = 2\n[game]\ncontexts = 2\n[train]\nsamples_per_prompt = 4\n"


def test_opponent_samples_is_read_as_num_comparisons_with_one_stderr_line(tmp_path, capsys):
    path = tmp_path / "old.toml"
    path.write_text(OLD + "opponent_samples = 3\n[solvers.egpo]\nopponent_samples = 5\n")
    cfg = load_config(str(path))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "opponent_samples (in [train], [solvers.egpo]) is deprecated; use num_comparisons" in err[0], err
    assert err[0].startswith("warning: ") and "Traceback" not in err[0]
    assert cfg.train.num_comparisons == 3 and train_config(cfg, "egpo").num_comparisons == 5
    assert "opponent_samples" not in resolved_config(cfg)["train"]
    assert resolved_config(cfg)["train"]["num_comparisons"] == 3
    assert TrainConfig.from_dict({"opponent_samples": 4}).num_comparisons == 4


@pytest.mark.parametrize("where", ["[train]", "[solvers.egpo]"])
def test_both_names_at_once_are_refused_in_one_line(tmp_path, capsys, where):
    path = tmp_path / "both.toml"
    text = OLD if where == "[train]" else OLD + "[solvers.egpo]\n"
    path.write_text(text + "opponent_samples = 3\nnum_comparisons = 3\n")
    line = _one_line(capsys, ["llm", "train", "--config", str(path), "--quiet"])
    assert f"{where} has both opponent_samples and num_comparisons" in line and "keep only num_comparisons" in line


def test_config_json_written_before_the_rename_compares_equal_after_it(tmp_path):
    """Every config.json the code before the rename wrote for the shipped configs (and three more) equals, once
    upgraded, what this code records for the same file: so those run folders resume."""
    from nashlab.llm_bridge.run_folder import differences

    before = json.loads(BEFORE.read_text())
    assert len(before) == 20
    for name, case in before.items():
        old = case["config"]
        assert "opponent_samples" in old["train"] and "num_comparisons" not in old["train"]
        path = tmp_path / "case.toml"
        path.write_text(case["toml_text"])  # the file as it was then (it says opponent_samples: read as the alias)
        now = resolved_config(load_config(str(path)), case["solver"])
        folder = tmp_path / name.replace(":", "-")
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"source": "x", "nashlab_version": "0", "config": old}))
        assert upgrade_run_folder(str(folder)).startswith(f"warning: {folder} was written by an older nashlab")
        upgraded = json.loads((folder / "config.json").read_text())["config"]
        assert list(differences(upgraded, now)) == [], name
        assert json.dumps(upgraded, sort_keys=True) == json.dumps(now, sort_keys=True), name  # same types too
        assert list(upgraded["train"]) == [k.replace("opponent_samples", "num_comparisons") for k in old["train"]]
        assert upgrade_run_folder(str(folder)) is None  # nothing left to rename


SMALL = """\
[model]
source = "tiny"
hidden = 16
layers = 1
heads = 2
threads = 1
[game]
contexts = 2
beta = 0.05
[train]
solver = "td-mnpo"   # as test_run_folder's run: the same cached nashlab verify report
iterations = 1
samples_per_prompt = 4
num_comparisons = 2
epochs = 1
prompts_per_step = 2
max_new_tokens = 2
bf16 = "no"
"""


def test_a_run_folder_of_the_old_name_resumes(tmp_path, capsys):
    """A run folder whose config.json and checkpoint state record ``opponent_samples`` (as nashlab wrote them
    before the rename) resumes, with one warning line, and then records ``num_comparisons``."""
    config, out = tmp_path / "small.toml", tmp_path / "run"
    config.write_text(SMALL)
    assert main(["llm", "train", "--config", str(config), "--out", str(out), "--quiet", "--json"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for name in ("config.json", "checkpoint/state.json"):
        f = out / name
        text = f.read_text()
        assert text.count('"num_comparisons"') == 1
        f.write_text(text.replace('"num_comparisons"', '"opponent_samples"'))
    backup = tmp_path / "backup"
    shutil.copytree(out, backup)
    assert main(["llm", "train", "--config", str(config), "--out", str(out), "--quiet", "--json",
                 "--iterations", "2", "--resume"]) == 0
    cap = capsys.readouterr()
    warnings = [line for line in cap.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "train.opponent_samples → train.num_comparisons" in warnings[0], cap.err
    assert "Traceback" not in cap.err
    assert json.loads(cap.out.strip().splitlines()[-1])["iterations"] == 2 and first["iterations"] == 1
    recorded = json.loads((out / "config.json").read_text())["config"]["train"]
    assert recorded["num_comparisons"] == 2 and "opponent_samples" not in recorded
    # another config is still refused, naming the key: the rename hides no difference
    config.write_text(SMALL.replace("num_comparisons = 2", "num_comparisons = 3"))
    assert main(["llm", "train", "--config", str(config), "--out", str(backup), "--quiet", "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("warning:") and "train.num_comparisons was 2, now 3" in err[1], err


def test_the_docs_key_tables_are_the_declarations():
    """docs/llm_config.md lists every key of every table as the dataclasses declare it (type, range, default, kind)."""
    from nashlab.toml_config import key_table

    doc = (ROOT / "docs" / "llm_config.md").read_text()
    for cls, table in [(ModelConfig, "model"), (GameConfig, "game"), (JudgeConfig, "judge"), (TrainConfig, "train")]:
        text = key_table(cls, table)
        assert text in doc, f"docs/llm_config.md: regenerate the [{table}] table with nashlab.toml_config.key_table"
        assert text.count("\n| `") == len(dataclasses.fields(cls))
    assert "| `num_comparisons` (formerly `opponent_samples`) | an integer from 1 to 65536 | `8` | always |" in doc
