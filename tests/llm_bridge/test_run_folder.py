"""`nashlab llm train --out DIR`, attacked the way a user or an attacker would: planted pickles in every file a
resume reads, a fresh run on a finished one, a resume with another config or model shape, bad --out paths and bad
configs. Each is refused with exit 2 and one stderr line, and nothing planted ever runs."""

import csv
import json
import os
import pickle
import shutil
import subprocess

import pytest

from nashlab.experiments.cli import main

#: A tiny td-mnpo run (its checkpoint holds a history iterate too): 2 iterations, a checkpoint after each.
SMALL = """\
[model]
source = "tiny"
hidden = 16
layers = 1
heads = 2
threads = 1

[game]
kind = "cyclic"
num_actions = 3
contexts = 4
beta = 0.05

[judge]
kind = "known-nash"

[train]
solver = "td-mnpo"
iterations = 2
samples_per_prompt = 4
num_comparisons = 2
epochs = 1
prompts_per_step = 2
lr = 1e-2
max_new_tokens = 2
checkpoint_every = 1
bf16 = "no"
"""


class _Planted:
    """Unpickling this creates the marker file: proof that a reader ran code from the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _train(config, out, *extra):
    return main(["llm", "train", "--config", str(config), "--out", str(out), "--quiet", *extra])


def _one_error_line(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    for n in needles:
        assert n in err[0], err[0]
    return err[0]


def _rows(path):
    with open(path) as f:
        return [{k: v for k, v in r.items() if not k.startswith("seconds") and k != "tokens_per_second"} for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run folder (copied by each test) and its config file."""
    d = tmp_path_factory.mktemp("finished")
    (d / "small.toml").write_text(SMALL)
    assert _train(d / "small.toml", d / "run") == 0
    return d / "small.toml", d / "run"


@pytest.fixture
def run(finished, tmp_path):
    config, src = finished
    shutil.copy(config, tmp_path / "small.toml")
    shutil.copytree(src, tmp_path / "run")
    return tmp_path / "small.toml", tmp_path / "run"


RESUME_READS = ["config.json", "metrics.csv", "checkpoint/state.json", "checkpoint/model.safetensors",
                "checkpoint/ref.safetensors", "checkpoint/history_0.safetensors", "checkpoint/optimizer.safetensors",
                "checkpoint/optimizer.json", "checkpoint/rng.json",
                # what older nashlab versions read with torch.load(weights_only=False)
                "checkpoint/optimizer.pt", "checkpoint/rng.pt"]


def test_the_finished_run_holds_every_file_a_resume_reads(finished):
    _, out = finished
    present = {os.path.relpath(os.path.join(r, f), out) for r, _, fs in os.walk(out) for f in fs}
    assert set(RESUME_READS) - present == {"checkpoint/optimizer.pt", "checkpoint/rng.pt"}
    assert not any(f.endswith((".pt", ".pkl", ".bin")) for f in present), present


@pytest.mark.parametrize("protocol", [0, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("target", RESUME_READS + ["small.toml"])
def test_a_planted_pickle_is_refused_and_never_runs(run, tmp_path, capsys, target, protocol):
    config, out = run
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Planted(marker), protocol=protocol)
    pickle.loads(payload)  # the payload is live: loading it does create the marker
    assert marker.exists()
    marker.unlink()
    (config.parent / "small.toml" if target == "small.toml" else out / target).write_bytes(payload)
    assert _train(config, out, "--resume") == 2
    _one_error_line(capsys)
    assert not marker.exists()


def test_a_fresh_run_never_overwrites_a_run_and_overwrite_starts_clean(run, capsys):
    config, out = run
    before = _rows(out / "metrics.csv")
    events = os.listdir(out / "tb")
    assert _train(config, out, "--iterations", "1") == 2
    _one_error_line(capsys, "already holds a run", "--overwrite")
    assert _rows(out / "metrics.csv") == before and os.listdir(out / "tb") == events
    assert _train(config, out, "--iterations", "1", "--overwrite") == 0
    assert [r["iteration"] for r in _rows(out / "metrics.csv")] == ["0", "1"]
    assert not set(os.listdir(out / "tb")) & set(events) and len(os.listdir(out / "tb")) == 1
    assert json.loads((out / "config.json").read_text())["config"]["train"]["iterations"] == 1


def test_resume_and_overwrite_exclude_each_other(run, capsys):
    config, out = run
    assert _train(config, out, "--resume", "--overwrite") == 2
    _one_error_line(capsys, "--resume", "--overwrite")


@pytest.mark.parametrize("change,key", [
    (["--seed", "5"], "train.seed was 0, now 5"),
    (["--solver", "inpo"], 'train.solver was "td-mnpo", now "inpo"'),
    ("lr = 1e-2\n->lr = 2e-2\n", "train.lr was 0.01, now 0.02"),
    ("contexts = 4\n->contexts = 2\n", "game.contexts was 4, now 2"),
    ('[judge]\nkind = "known-nash"\n->[judge]\nkind = "known-nash"\nsample = false\n', "judge.sample was true"),
])
def test_resume_with_another_config_names_the_first_differing_key(run, capsys, change, key):
    config, out = run
    stored = (out / "config.json").read_text()
    extra = []
    if isinstance(change, str):
        old, new = change.split("->")
        config.write_text(SMALL.replace(old, new))
    else:
        extra = change
    assert _train(config, out, "--resume", *extra) == 2
    _one_error_line(capsys, key)
    assert (out / "config.json").read_text() == stored


def test_resume_may_extend_iterations_and_records_only_that(run, capsys):
    config, out = run
    stored = json.loads((out / "config.json").read_text())["config"]
    assert _train(config, out, "--resume", "--iterations", "3") == 0
    now = json.loads((out / "config.json").read_text())["config"]
    assert now["train"].pop("iterations") == 3 and stored["train"].pop("iterations") == 2
    assert now == stored
    assert [r["iteration"] for r in _rows(out / "metrics.csv")] == ["0", "1", "2", "3"]
    capsys.readouterr()
    recorded = (out / "config.json").read_text()
    assert _train(config, out, "--resume", "--iterations", "1") == 2  # below what is done
    _one_error_line(capsys, "train.iterations = 1 is below the 3 iterations already done")
    assert (out / "config.json").read_text() == recorded


def test_iterations_cannot_change_under_an_lr_schedule(tmp_path, capsys):
    config = tmp_path / "sched.toml"
    config.write_text(SMALL.replace("lr = 1e-2\n", "lr = 1e-2\nlr_final = 1e-3\n").replace("iterations = 2",
                                                                                         "iterations = 1"))
    assert _train(config, tmp_path / "run") == 0
    capsys.readouterr()
    assert _train(config, tmp_path / "run", "--resume", "--iterations", "2") == 2
    _one_error_line(capsys, "lr_final")


def test_weights_of_another_model_shape_are_refused_in_one_line(run, capsys):
    """The config check would name model.hidden first; with the stored config edited to agree, the checkpoint's
    weights themselves are refused, in one line instead of torch's list of every mismatched tensor."""
    config, out = run
    config.write_text(SMALL.replace("hidden = 16", "hidden = 8"))
    assert _train(config, out, "--resume") == 2
    _one_error_line(capsys, "model.hidden was 16, now 8")
    stored = json.loads((out / "config.json").read_text())
    stored["config"]["model"]["hidden"] = 8
    (out / "config.json").write_text(json.dumps(stored))
    assert _train(config, out, "--resume") == 2
    _one_error_line(capsys, "model.safetensors does not fit the model", "shape")


def test_a_checkpoint_of_an_older_nashlab_is_refused(run, capsys):
    config, out = run
    (out / "checkpoint" / "rng.pt").write_bytes(b"\x80\x04K\x01.")  # the pickle of 1: harmless, still refused
    assert _train(config, out, "--resume") == 2
    _one_error_line(capsys, "older nashlab")


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_it_again(run, capsys):
    config, out = run
    full = _rows(out / "metrics.csv")
    shutil.rmtree(out / "checkpoint")
    assert _train(config, out, "--resume") == 0
    assert _rows(out / "metrics.csv") == full


def test_resume_finishes_a_checkpoint_replacement_cut_by_a_kill(run, capsys):
    """Killed between the two renames of a save: only checkpoint.old and a complete checkpoint.tmp exist."""
    config, out = run
    full = _rows(out / "metrics.csv")
    shutil.copytree(out / "checkpoint", out / "checkpoint.old")
    os.replace(out / "checkpoint", out / "checkpoint.tmp")
    assert _train(config, out, "--resume") == 0
    assert sorted(os.listdir(out)) == ["checkpoint", "config.json", "metrics.csv", "tb", "verification.json"]
    assert _rows(out / "metrics.csv") == full


def test_resume_needs_a_run(tmp_path, capsys):
    (tmp_path / "small.toml").write_text(SMALL)
    assert _train(tmp_path / "small.toml", tmp_path / "empty", "--resume") == 2
    _one_error_line(capsys, "no run to resume")


# ------------------------------------------------------------------------------------------------- --out paths


@pytest.fixture
def readonly_dir(tmp_path):
    """A folder nobody may write in: chmod for a normal user; root ignores modes, so the immutable flag."""
    d = tmp_path / "ro"
    d.mkdir()
    os.chmod(d, 0o555)
    flagged = False
    try:
        (d / "probe").touch()
    except OSError:
        pass
    else:
        (d / "probe").unlink()
        flagged = subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode == 0
        if not flagged:
            pytest.skip("cannot make a read-only folder here (root without chattr)")
    yield d
    if flagged:
        subprocess.run(["chattr", "-i", str(d)], check=True)
    os.chmod(d, 0o755)


def test_out_on_a_file_under_a_file_or_read_only_is_one_line(tmp_path, capsys, readonly_dir):
    config = tmp_path / "small.toml"
    config.write_text(SMALL)
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out, needle in [(afile, "is a file, not a folder"), (afile / "run", "is a file, so no folder"),
                        (readonly_dir, "cannot write there"), (readonly_dir / "run", "cannot write there")]:
        assert _train(config, out) == 2
        _one_error_line(capsys, str(out), needle)
    assert afile.read_text() == "x"


# --------------------------------------------------------------------------------------------- config and help


@pytest.mark.parametrize("text,needle", [
    ("", "the [model] table is missing"),
    ("[model]\n", "the [game] table is missing"),
    ("[model]\nhidden = 0\n[game]\n", "[model] hidden must be an integer from 1 to 65536; got 0"),
    ("[model]\nheads = 3\n[game]\n", "hidden must be divisible by heads"),
    ("[model]\nlayers = 1.5\n[game]\n", "[model] layers must be an integer"),
    ("[model]\nlayers = 1000000000000\n[game]\n", "[model] layers must be an integer from 1 to 1024"),
    ("[model]\nhidden = 65536\nheads = 1\n[game]\n", "GiB to train"),  # 43 G parameters: refused, not OOM-killed
    ("[model]\n[game]\n[train]\niterations = 1000000000000\n", "iterations must be an integer from 1 to"),
    ("[model]\n[game]\n[train]\nseed = -1\n", "seed must be an integer from 0"),
    ("[model]\nsource = 'path'\nhidden = 8\npath = 'x'\n[game]\n", "hidden does not apply to source = 'path'"),
    ("[model]\n[game]\nbeta = nan\n", "[game] beta must be a finite number"),
    ("[model]\n[game]\nnum_actions = '3'\n", "[game] num_actions must be an integer"),
    ("[model]\n[game]\n[judge]\nsample = 1\n", "[judge] sample must be true or false"),
    ("[model]\n[game]\n[train]\nlr = inf\n", "lr must be a finite number > 0"),
    ("[model]\n[game]\n[train]\nlr = 'x'\n", "lr must be a finite number > 0"),
    ("[model]\n[game]\n[train]\ntop_p = 1.5\n", "top_p must be a finite number > 0 and ≤ 1"),
    ("[model]\n[game]\n[train]\nadam_betas = 0.9\n", "adam_betas must be a list"),
    ("[model]\n[game]\n[solvers.egpo]\neta = -1.0\n", "eta must be a finite number > 0"),
    ("model = 3\n", "model must be a table"),
    ("[model\n", "not valid TOML"),
])
def test_bad_configs_are_one_line(tmp_path, capsys, text, needle):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert main(["llm", "train", "--config", str(config), "--quiet"]) == 2
    line = _one_error_line(capsys, needle)
    if "table is missing" in needle or "TOML" in needle:
        assert str(config) in line


def test_config_that_is_a_folder_or_not_utf8(tmp_path, capsys):
    assert main(["llm", "train", "--config", str(tmp_path)]) == 2
    _one_error_line(capsys, "is a directory", str(tmp_path))
    bad = tmp_path / "latin1.toml"
    bad.write_bytes("[model]\n# caf\xe9\n".encode("latin-1"))
    assert main(["llm", "train", "--config", str(bad)]) == 2
    _one_error_line(capsys, str(bad), "not UTF-8")


def test_llm_help_says_what_out_resume_and_overwrite_do(capsys):
    with pytest.raises(SystemExit) as e:
        main(["llm", "--help"])
    assert e.value.code == 0
    assert "language game" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["llm", "train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for needle in ("Without --out nothing is written", "cannot be resumed", "--resume continue the run",
                   "train.iterations", "--overwrite delete the run", "SIGTERM"):
        assert needle in text, needle


def test_llm_without_a_subcommand_prints_usage_to_stderr(capsys):
    assert main(["llm"]) == 2
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err.startswith("usage: nashlab llm")
