"""Figures: a tiny sweep produces every figure (files non-empty; axes labelled, log-scaled where stated; one colour
per solver across figures). Uses the deterministic fake task function, so only the figure code is under test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nashlab.experiments.config import load_config
from nashlab.experiments.runner import run_sweep
from nashlab.paper_figs import (
    RunData,
    all_figures,
    fig_gap_vs_iterations,
    fig_gap_vs_queries,
    fig_kl_rates,
    fig_last_vs_average,
    fig_multiplayer_gap,
    solver_color,
)
from nashlab.paper_figs.rates import contraction

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from fake_tasks import fake_run_batch  # noqa: E402


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("figs_run")
    cfg = load_config(HERE / "tiny.toml", registry=("egpo", "nash-mp", "mwu", "mnpo"), check_hparams=False)
    run_sweep(cfg, out, task_fn=fake_run_batch, progress=False)
    return out


def _visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


@pytest.mark.parametrize("make, xlabel, ylabel, logx", [
    (lambda d: fig_gap_vs_iterations(d, 0.1), "iteration t", "DG", False),
    (lambda d: fig_gap_vs_iterations(d, 0.0), "iteration t", "DG$_0$", False),
    (lambda d: fig_gap_vs_queries(d, 0.1), "preference queries (comparisons)", "DG", True),
    (lambda d: fig_gap_vs_queries(d, 0.1, feedback="exact"), "win-rate queries (exact Pπ)", "DG", True),
    (lambda d: fig_kl_rates(d, 0.1), "iteration t", "KL", False),
    (lambda d: fig_last_vs_average(d, 0.1), "iteration t", "DG", False),
    (lambda d: fig_multiplayer_gap(d), "iteration t", "multiplayer duality gap", False),
])
def test_axes_labelled_and_log_scaled(run_dir, make, xlabel, ylabel, logx):
    fig = make(RunData(run_dir))
    axes = _visible_axes(fig)
    assert axes
    for ax in axes:
        assert ax.get_xlabel() == xlabel and ylabel in ax.get_ylabel()
        assert ax.get_yscale() == "log"
        assert ax.get_xscale() == ("log" if logx else "linear")
        assert ax.get_title()
        assert ax.get_lines(), "a panel without a curve"
    assert fig.legends, "no legend"


def test_one_panel_per_game_and_median_with_band(run_dir):
    data = RunData(run_dir)
    fig = fig_gap_vs_iterations(data, 0.1)
    assert [ax.get_title() for ax in _visible_axes(fig)] == ["rps", "egpo"]
    ax = _visible_axes(fig)[0]
    assert len(ax.collections) == len(ax.get_lines())  # one IQR band (fill_between) per median line


def test_solver_colours_are_the_same_in_every_figure(run_dir):
    from matplotlib.colors import to_hex

    data = RunData(run_dir)
    colours: dict[str, set] = {}
    for fig in all_figures(data).values():
        for leg in fig.legends:
            for h, txt in zip(leg.legend_handles, leg.get_texts()):
                if txt.get_text() in ("egpo", "nash-mp", "mwu", "mnpo"):
                    colours.setdefault(txt.get_text(), set()).add(to_hex(h.get_color()))
    assert set(colours) == {"egpo", "nash-mp", "mwu", "mnpo"}
    for name, cs in colours.items():
        assert cs == {to_hex(solver_color(name))}, name
    assert len({next(iter(c)) for c in colours.values()}) == len(colours)  # distinct solvers, distinct colours


def test_theory_line_is_kl0_times_the_contraction(run_dir):
    """The dashed line of EGPO in the KL figure is KL_0 · (1 − ηβ)^t (η = 0.5 in the fake, β = 0.1)."""
    import numpy as np

    fig = fig_kl_rates(RunData(run_dir), 0.1)
    ax = _visible_axes(fig)[0]
    red = [ln for ln in ax.get_lines() if ln.get_color() == solver_color("egpo")]
    measured, theory = (ln for ln in red if ln.get_linestyle() == "-"), [ln for ln in red if ln.get_linestyle() == "--"]
    m = next(measured)
    (th,) = theory
    x, y = (np.asarray(v, dtype=float) for v in th.get_data())
    _, q = contraction("egpo", 0.5, 0.1)
    assert q == pytest.approx(0.95)
    np.testing.assert_allclose(y, m.get_ydata()[0] * q ** np.asarray(x), rtol=1e-12)


def test_figs_command_writes_every_figure_as_png_and_pdf(run_dir, capsys):
    import json

    from nashlab.experiments.cli import main

    assert main(["figs", str(run_dir), "--json"]) == 0
    paths = [Path(p) for p in json.loads(capsys.readouterr().out.strip().splitlines()[-1])["figures"]]
    names = {p.stem for p in paths}
    assert names == {"gap_vs_iterations_beta0", "gap_vs_iterations_beta0.1", "gap_vs_queries_exact_beta0",
                     "gap_vs_queries_sampled_beta0", "gap_vs_queries_exact_beta0.1", "gap_vs_queries_sampled_beta0.1",
                     "last_vs_average_beta0", "last_vs_average_beta0.1", "kl_rate_beta0.1", "multiplayer_gap"}
    for p in paths:
        assert p.parent == Path(run_dir) / "figs" and p.suffix in (".png", ".pdf")
        assert p.stat().st_size > 5000, p
    assert {p.suffix for p in paths} == {".png", ".pdf"} and len(paths) == 2 * len(names)


def test_each_panel_draws_the_best_eta_and_breaks_floor_ties_by_speed(tmp_path):
    """η = 0.01 ends far above the floor; η = 0.5 and 0.8 both reach it: the faster (0.8) is drawn."""
    from fake_tasks import fake_eta_run_batch

    from nashlab.experiments.config import parse_config
    from nashlab.paper_figs.figures import _select

    text = """
[sweep]
iters = 60
every = 5
seeds = 2
beta = [0.1]
eta = [0.01, 0.5, 0.8]
solvers = ["egpo"]

[[games]]
name = "rps"
spec = "cyclic:n=3"
"""
    cfg = parse_config(text, registry=("egpo",), check_hparams=False)
    run_sweep(cfg, tmp_path, task_fn=fake_eta_run_batch, progress=False)
    chosen = _select(RunData(tmp_path), beta=0.1, game="rps", feedback="exact")
    assert {t["eta"] for t in chosen} == {0.8} and len(chosen) == 2
