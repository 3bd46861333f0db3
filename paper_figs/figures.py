"""Paper figures: one function per figure, from a run's stored results to a matplotlib ``Figure``.

Every curve is the **median over seeds** with the **inter-quartile band** (25–75 %) shaded; y is logarithmic (values
below :data:`FLOOR` are drawn at it, and every figure says so under its panels). Panels are one per game and share
their x-axis. When a solver ran with several step sizes η, each panel shows its best η on that game (smallest median
final gap), as the papers' grid searches do; the chosen η is in the report.

Colour and marker name the solver, line style the feedback or iterate. Curves that coincide (MWU, SPPO and two-player
MNPO are one update; INPO, Nash-MD and MMD nearly so at small ηβ) would hide each other, so their markers are
staggered along the curve and the panel's title lists them (``mwu ≡ sppo``). The figures are built on
:class:`matplotlib.figure.Figure` alone, so importing this module never selects a matplotlib backend.

The gap drawn for a task is its game's gap: ``DG_β`` for β > 0, ``DG_0`` for β = 0 (see
:func:`nashlab.experiments.report.gap_metric`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .rates import contraction
from .style import PANEL_H, PANEL_W, RC, feedback_style, solver_color, solver_marker

#: Curves stop where their median first reaches this value: gaps and KLs are O(1) quantities computed in float64,
#: so below ~1e-13 they are rounding noise (the EGPO paper likewise cuts its curves at a threshold).
FLOOR = 1e-13

#: Stated under every figure's panels: what the floor does to the curves.
FLOOR_NOTE = (f"y clipped at {FLOOR:.0e} (float64 rounding below it); a curve ends where its median reaches it. "
              "≡ in a panel title: those curves coincide (markers staggered).")

#: Markers per curve, evenly spaced along the panel's x-axis (in its own scale): sparse enough to read the curve
#: through them, and the staggered markers of coincident curves still fall between one another.
MARKERS_PER_CURVE = 8

#: Two curves coincide when their medians differ by at most this many decades (12 %) at 90 % of the x-values they
#: share: less than a line width on a panel spanning ten decades, and robust to the spikes of sampled feedback.
COINCIDE_DECADES = 0.05


class RunData:
    """The finished tasks of a run directory and their metric traces (loaded lazily, one metric at a time)."""

    def __init__(self, directory: str | Path) -> None:
        from nashlab.experiments.store import Store

        self.directory = Path(directory)
        with Store(directory, readonly=True) as store:
            self.tasks: list[dict[str, Any]] = store.tasks()
            self._store_path = store.directory
        self._traces: dict[str, dict] = {}

    def trace(self, metric: str) -> dict[str, dict[str, list[float]]]:
        if metric not in self._traces:
            from nashlab.experiments.store import Store

            with Store(self._store_path, readonly=True) as store:
                self._traces[metric] = store.traces(metric)
        return self._traces[metric]

    def betas(self, *, multiplayer: bool = False) -> list[float]:
        return sorted({t["beta"] for t in self.tasks if bool(t.get("num_players")) == multiplayer})

    def games(self, *, multiplayer: bool = False) -> list[str]:
        seen: dict[str, None] = {}
        for t in self.tasks:
            if bool(t.get("num_players")) == multiplayer:
                seen.setdefault(t["game"])
        return list(seen)


def gap_name(beta: float, *, avg: bool = False) -> str:
    base = "reg_duality_gap" if beta > 0 else "duality_gap"
    return f"avg_{base}" if avg else base


def _gap_label(beta: float) -> str:
    return f"duality gap DG$_{{{beta:g}}}$" if beta > 0 else "duality gap DG$_0$"


def _resolved_eta(t: dict) -> float | None:
    eta = t.get("hparams", {}).get("eta", t["eta"])
    return float(eta) if isinstance(eta, (int, float)) else None


def _select(data: RunData, *, beta: float, game: str | None = None, feedback: str | None = None,
            multiplayer: bool = False) -> list[dict]:
    """Tasks at β (and game / feedback kind), the first init only, each solver at its best (η, schedule)."""
    ts = [t for t in data.tasks if t["beta"] == beta and bool(t.get("num_players")) == multiplayer
          and (game is None or t["game"] == game)
          and (feedback is None or t["feedback"].split(":")[0] == feedback)]
    if not ts:
        return []
    first_init = ts[0]["init"]
    ts = [t for t in ts if t["init"] == first_init or t["init"].startswith("random") and first_init.startswith("random")]
    metric = "multiplayer_duality_gap" if multiplayer else gap_name(beta)
    by: dict[tuple, dict[Any, list]] = defaultdict(lambda: defaultdict(list))
    for t in ts:
        # a variant is (η, schedule): pooling two schedules' seeds in one band would draw neither
        by[(t["game"], t["solver"], t["feedback"])][(t["eta"], t.get("schedule", "constant"))].append(t)
    trace = data.trace(metric) if any(len(v) > 1 for v in by.values()) else {}

    def score(group: list[dict]) -> tuple[float, float]:
        # best final gap first (values at the float64 floor tie), then the fastest: the smallest area under the
        # log-gap curve, so of two step sizes that both reach the floor the quicker one is drawn.
        final = max(_nanmedian([g["final"].get(metric, math.inf) for g in group]), FLOOR)
        rows = [trace[g["task_id"]]["value"] for g in group if g["task_id"] in trace]
        area = float(np.mean([np.log10(np.maximum(np.asarray(r, dtype=np.float64), FLOOR)).mean() for r in rows])) \
            if rows else math.inf
        return final, area

    out = []
    for _, per_eta in by.items():
        out.extend(min(per_eta.values(), key=score))
    return out


def _nanmedian(xs) -> float:
    a = np.asarray([x if x is not None else np.nan for x in xs], dtype=np.float64)
    return float(np.nanmedian(a)) if np.isfinite(a).any() else math.inf


def _band(data: RunData, tasks: list[dict], metric: str, x: str = "iteration"):
    """(x, median, q25, q75) over the tasks' traces of ``metric`` (traces truncated to the shortest)."""
    tr = data.trace(metric)
    rows = [tr[t["task_id"]] for t in tasks if t["task_id"] in tr]
    if not rows:
        return None
    L = min(len(r["value"]) for r in rows)
    if L == 0:
        return None
    vals = np.maximum(np.array([r["value"][:L] for r in rows], dtype=np.float64), FLOOR)
    if x == "queries":
        if not all(len(r["queries"]) >= L for r in rows):
            return None
        xs = np.median(np.array([r["queries"][:L] for r in rows], dtype=np.float64), axis=0)
    else:
        xs = np.asarray(rows[0]["iteration"][:L], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        q25, med, q75 = np.nanpercentile(vals, [25, 50, 75], axis=0)
    hit = np.flatnonzero(med <= FLOOR)
    end = int(hit[0]) + 1 if hit.size else L
    return xs[:end], med[:end], q25[:end], q75[:end]


def _grid(num: int, *, ncols: int = 3) -> tuple[Figure, list]:
    import matplotlib as mpl

    ncols = max(1, min(ncols, num))
    nrows = max(1, math.ceil(num / ncols))
    with mpl.rc_context(RC):
        fig = Figure(figsize=(PANEL_W * ncols, PANEL_H * nrows + 0.5), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[num:]:
        ax.set_visible(False)
    for ax in axes[1:num]:  # one x-range per figure, so panels compare at a glance; tick labels stay on every panel
        ax.sharex(axes[0])
    return fig, axes[:num]


def _title(fig: Figure, text: str) -> None:
    """Figure title, wrapped to the figure's width (a one-panel figure is one column wide)."""
    import textwrap

    width = max(40, int(fig.get_figwidth() * 14))  # ≈ characters per inch at 9 pt
    text = text.replace("β = ", "β\u00a0=\u00a0")  # never break inside "β = 0.1" (textwrap keeps NBSP)
    fig.suptitle("\n".join(textwrap.wrap(text, width)), fontsize=RC["axes.titlesize"] + 0.5)


def _style_axes(ax, *, title: str, xlabel: str, ylabel: str, logx: bool = False) -> None:
    ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    _finish_panel(ax, title)
    ax.set_xlabel(xlabel, fontsize=RC["axes.labelsize"])
    ax.set_ylabel(ylabel, fontsize=RC["axes.labelsize"])
    ax.tick_params(labelsize=RC["xtick.labelsize"])
    ax.grid(True, which="major", alpha=0.3, linewidth=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _legend(fig: Figure, solvers: Iterable[str], extra: list[tuple[str, dict]] = ()) -> None:
    """One entry per solver (its colour, marker and, when all its curves share one, their line style), then the
    style entries ``extra`` in black, and :data:`FLOOR_NOTE` under them."""
    styles: dict[str, set] = defaultdict(set)
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_gid() in _CURVE_GIDS:
                styles[_split_label(line.get_label())[0]].add(line.get_linestyle())
    handles = []
    for s in solvers:
        ls = next(iter(styles[s])) if len(styles[s]) == 1 else "-"
        handles.append(Line2D([], [], color=solver_color(s), lw=1.6, ls=ls, marker=solver_marker(s), ms=4, label=s))
    handles += [Line2D([], [], color="black", label=label, **kw) for label, kw in extra]
    import textwrap

    note = textwrap.fill(FLOOR_NOTE, max(40, int(fig.get_figwidth() * 17)), break_on_hyphens=False)  # ≈ chars/inch
    ncols = max(1, min(len(handles), 6, int(fig.get_figwidth() / 0.9)))  # a one-panel figure is one column wide
    fig.legend(handles=handles, loc="outside lower center", ncols=ncols, frameon=False,
               fontsize=RC["legend.fontsize"], title=note, title_fontsize=RC["legend.fontsize"] - 0.5)


#: ``gid`` of the median curves (the lines a legend entry and the coincidence check are about); theory lines and
#: reference lines carry none.
_CURVE_GIDS = ("median",)


def _plot_band(ax, band, solver: str, ls: str = "-", *, label: str, lw: float = 1.2, alpha: float = 0.18):
    """The median line (solver colour and marker; ``label`` starts with the solver) and its IQR band."""
    xs, med, q25, q75 = band
    color = solver_color(solver)
    (line,) = ax.plot(xs, med, color=color, ls=ls, lw=lw, label=label, marker=solver_marker(solver), ms=3.2,
                      gid="median")
    ax.fill_between(xs, q25, q75, color=color, alpha=alpha, lw=0)
    return line


def _coincident(lines) -> list[list]:
    """Groups (≥ 2, in drawing order) of median lines that coincide: at 90 % of the x-values they share the medians
    differ by at most :data:`COINCIDE_DECADES` decades, and the shorter covers ≥ 90 % of the longer (a curve that stops
    at the floor a little earlier still coincides)."""
    logs = [np.log10(np.asarray(ln.get_ydata(), dtype=np.float64)) for ln in lines]
    xs = [np.asarray(ln.get_xdata(), dtype=np.float64) for ln in lines]
    parent = list(range(len(lines)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            n = min(len(xs[i]), len(xs[j]))
            if n == 0 or n < 0.9 * max(len(xs[i]), len(xs[j])) or not np.array_equal(xs[i][:n], xs[j][:n]):
                continue
            if np.nanquantile(np.abs(logs[i][:n] - logs[j][:n]), 0.9) <= COINCIDE_DECADES:
                parent[root(j)] = root(i)
    groups: dict[int, list] = defaultdict(list)
    for i, ln in enumerate(lines):
        groups[root(i)].append(ln)
    return [g for g in groups.values() if len(g) > 1]


def _marker_indices(x: np.ndarray, lo: float, hi: float, offset: float) -> list[int]:
    """Indices of the points of ``x`` nearest :data:`MARKERS_PER_CURVE` positions evenly spaced over ``[lo, hi]``
    (already in the axis' scale), shifted by ``offset`` ∈ [0, 1) of one spacing. A curve that ends before its first
    position (one that reaches the floor early) gets one marker, at its end, so every curve shows its solver's."""
    step = (hi - lo) / MARKERS_PER_CURVE
    targets = lo + step * (offset + np.arange(MARKERS_PER_CURVE) + 0.5)
    ok = np.isfinite(x)
    if not ok.any():
        return []
    idx = np.flatnonzero(ok)
    targets = targets[targets <= x[idx].max() + step / 2]
    if step <= 0 or not targets.size:
        return [int(idx[-1])]
    near = idx[np.abs(x[idx][None, :] - targets[:, None]).argmin(axis=1)]
    return sorted(set(near.tolist()))


def _split_label(label: str) -> tuple[str, str]:
    """A median curve's label ``"solver[ kind]"`` as ``(solver, kind)``: kind is ``average``, ``sampled`` or ``""``."""
    solver, _, kind = label.partition(" ")
    return solver, kind


def _finish_panel(ax, title: str) -> None:
    """Place the markers of the panel's median curves and name the coincident curves in the title.

    Markers are evenly spaced along x; each curve's are shifted by its own fraction k/K of the spacing, and within a
    group of m coincident curves by j/m, so every rule of the group shows its markers between the others'.
    """
    import textwrap

    lines = [ln for ln in ax.get_lines() if ln.get_gid() in _CURVE_GIDS]
    log = ax.get_xscale() == "log"

    def scaled(ln) -> np.ndarray:
        x = np.asarray(ln.get_xdata(), dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, np.log10(x), np.nan) if log else x

    xs = [scaled(ln) for ln in lines]
    finite = [x[np.isfinite(x)] for x in xs if np.isfinite(x).any()]
    lo, hi = (min(x.min() for x in finite), max(x.max() for x in finite)) if finite else (0.0, 0.0)
    offset = {id(ln): k / len(lines) for k, ln in enumerate(lines)}
    groups = _coincident(lines)
    for group in groups:
        for j, ln in enumerate(group):
            offset[id(ln)] = j / len(group)
    for ln, x in zip(lines, xs):
        ln.set_markevery(_marker_indices(x, lo, hi, offset[id(ln)]))
    notes: list[str] = []
    kinds_of: dict[tuple, list[str]] = {}  # the same rules coinciding as last and as average iterates: one note
    for group in groups:
        solvers, kinds = zip(*(_split_label(ln.get_label()) for ln in group))
        if len(set(kinds)) == 1 and len(set(solvers)) == len(solvers):  # "egpo ≡ inpo (average)"
            kinds_of.setdefault(solvers, []).append(kinds[0])
        else:
            note = " ≡ ".join(ln.get_label() for ln in group)
            if note not in notes:
                notes.append(note)
    for solvers, kinds in kinds_of.items():
        kinds = sorted(set(kinds), key=lambda k: (k != "", k))
        which = "last and average" if len(kinds) > 1 and "" in kinds else ", ".join(k for k in kinds if k)
        notes.append(" ≡ ".join(solvers) + (f" ({which})" if which else ""))
    if notes:
        # Wrapped to the panel's own width (≈ 9 title characters per inch), not the figure's: a long note in one
        # panel of a grid ran into its neighbours.
        inches = ax.get_position().width * ax.figure.get_figwidth()
        title += "\n" + "\n".join(textwrap.wrap("; ".join(notes), max(20, int(inches * 9))))
    ax.set_title(title, fontsize=RC["axes.titlesize"])


def _solver_order(tasks: list[dict]) -> list[str]:
    from .style import SOLVER_COLORS

    names = {t["solver"] for t in tasks}
    known = [s for s in SOLVER_COLORS if s in names]
    return known + sorted(names - set(known))


# --------------------------------------------------------------------------------------------------------- figures


def fig_gap_vs_iterations(data: RunData, beta: float, *, feedback: str | None = "exact") -> Figure:
    """Duality gap of the last iterate against iterations, one panel per game, at one β (exact feedback)."""
    return _gap_figure(data, beta, feedback=feedback, x="iteration")


def fig_gap_vs_queries(data: RunData, beta: float, *, feedback: str = "sampled") -> Figure:
    """Duality gap against the feedback actually consumed (log–log), one feedback model per figure.

    The two models count in different units, so they never share an axis: with ``sampled`` feedback a query is one
    Bernoulli comparison (``n·M`` per win-rate estimate); with ``exact`` feedback it is one exact win-rate vector
    ``Pπ`` (so extragradient / mirror-prox rules pay two per iteration).
    """
    return _gap_figure(data, beta, feedback=feedback, x="queries")


def _gap_figure(data: RunData, beta: float, *, feedback: str | None, x: str) -> Figure:
    games = [g for g in data.games() if _select(data, beta=beta, game=g, feedback=feedback)]
    fig, axes = _grid(len(games))
    used, fbs = [], set()
    for ax, game in zip(axes, games):
        ts = _select(data, beta=beta, game=game, feedback=feedback)
        groups: dict[tuple, list] = defaultdict(list)
        for t in ts:
            groups[(t["solver"], t["feedback"])].append(t)
        for s in _solver_order(ts):
            for (solver, fb), members in groups.items():
                if solver != s:
                    continue
                band = _band(data, members, gap_name(beta), x=x)
                if band is None:
                    continue
                kind = fb.split(":")[0]
                _plot_band(ax, band, s, feedback_style(fb), label=s if kind == "exact" else f"{s} {kind}")
                fbs.add(fb.split(":")[0])
                if s not in used:
                    used.append(s)
        _style_axes(ax, title=game, xlabel=_xlabel(x, feedback), ylabel=_gap_label(beta), logx=(x == "queries"))
    extra = [(f"{k} feedback", {"ls": feedback_style(k)}) for k in sorted(fbs)] if len(fbs) > 1 else []
    _legend(fig, used, extra)
    what = "iterations" if x == "iteration" else _xlabel(x, feedback)
    fb = f", {feedback} feedback" if feedback else ""
    _title(fig, f"Last-iterate duality gap vs {what}, β = {beta:g}{fb} (median, IQR over seeds)")
    return fig


def _xlabel(x: str, feedback: str | None) -> str:
    if x == "iteration":
        return "iteration t"
    return "win-rate queries (exact Pπ)" if feedback == "exact" else "preference queries (comparisons)"


def fig_kl_rates(data: RunData, beta: float) -> Figure:
    """``KL(π*_β ‖ π_t)`` against iterations with each solver's theoretical rate ``KL_0 · q^t`` (dashed) beside it.

    Only solvers with a linear-rate claim at β > 0 are drawn (see :mod:`nashlab.paper_figs.rates`); exact feedback.
    """
    games = []
    for g in data.games():
        ts = [t for t in _select(data, beta=beta, game=g, feedback="exact")
              if contraction(t["solver"], _resolved_eta(t), beta) is not None]
        if ts:
            games.append((g, ts))
    fig, axes = _grid(max(len(games), 1))
    used = []
    for ax, (game, ts) in zip(axes, games):
        for s in _solver_order(ts):
            members = [t for t in ts if t["solver"] == s]
            band = _band(data, members, "kl_to_nash")
            if band is None:
                continue
            color = solver_color(s)
            _plot_band(ax, band, s, label=s)
            label, q = contraction(s, _resolved_eta(members[0]), beta)
            xs = np.asarray(data.trace("kl_to_nash")[members[0]["task_id"]]["iteration"], dtype=np.float64)
            theory = band[1][0] * np.exp(xs * math.log(q))  # KL_0 · q^t, drawn down to the floor
            keep = theory >= FLOOR
            ax.plot(xs[keep], theory[keep], color=color, ls="--", lw=0.9, alpha=0.9, label=f"{s} theory")
            used.append(s) if s not in used else None
        _style_axes(ax, title=game, xlabel="iteration t", ylabel=r"KL($\pi^*_\beta\,\|\,\pi_t$)")
    if not games:
        _style_axes(axes[0], title="no solver with a rate at this β", xlabel="iteration t",
                    ylabel=r"KL($\pi^*_\beta\,\|\,\pi_t$)")
    _legend(fig, used, [("measured (median, IQR)", {"ls": "-"}), ("theory KL$_0\\,q^t$", {"ls": "--"})])
    _title(fig, f"Distance to the regularised equilibrium, β = {beta:g}: measured vs theoretical rate")
    return fig


def fig_last_vs_average(data: RunData, beta: float) -> Figure:
    """Last iterate (solid) vs running-average iterate (dotted) duality gap, one panel per game, exact feedback."""
    games = [g for g in data.games() if _select(data, beta=beta, game=g, feedback="exact")]
    fig, axes = _grid(len(games))
    used = []
    for ax, game in zip(axes, games):
        ts = _select(data, beta=beta, game=game, feedback="exact")
        for s in _solver_order(ts):
            members = [t for t in ts if t["solver"] == s]
            for avg, ls in ((False, "-"), (True, ":")):
                band = _band(data, members, gap_name(beta, avg=avg))
                if band is not None:
                    _plot_band(ax, band, s, ls, label=f"{s} average" if avg else s, alpha=0.10 if avg else 0.18)
                    used.append(s) if s not in used else None
        _style_axes(ax, title=game, xlabel="iteration t", ylabel=_gap_label(beta))
    _legend(fig, used, [("last iterate π$_t$", {"ls": "-"}), ("average iterate π̄$_t$", {"ls": ":"})])
    _title(fig, f"Last vs average iterate, β = {beta:g} (median, IQR over seeds)")
    return fig


def fig_multiplayer_gap(data: RunData) -> Figure:
    """Multiplayer duality gap ``max_i [max_π' J_i(π', π_−i) − J_i(π_i, π_−i)]`` of the n-player games.

    One panel per (game, β); last iterate solid, average iterate dotted; every feedback model (dashed sampled).
    """
    panels = [(g, b) for g in data.games(multiplayer=True) for b in data.betas(multiplayer=True)
              if _select(data, beta=b, game=g, multiplayer=True)]
    fig, axes = _grid(max(len(panels), 1))
    used, kinds = [], set()
    for ax, (game, beta) in zip(axes, panels):
        ts = _select(data, beta=beta, game=game, multiplayer=True)
        players = ts[0]["num_players"]
        for s in _solver_order(ts):
            for fb in sorted({t["feedback"] for t in ts if t["solver"] == s}):
                members = [t for t in ts if t["solver"] == s and t["feedback"] == fb]
                kind = fb.split(":")[0]
                band = _band(data, members, "multiplayer_duality_gap")
                if band is not None:
                    _plot_band(ax, band, s, feedback_style(fb), label=s if kind == "exact" else f"{s} {kind}")
                    used.append(s) if s not in used else None
                    kinds.add(f"last, {kind}")
                if kind == "exact":
                    band = _band(data, members, "avg_multiplayer_duality_gap")
                    if band is not None:
                        _plot_band(ax, band, s, ":", label=f"{s} average", alpha=0.08)
                        kinds.add("average, exact")
        _style_axes(ax, title=f"{game} ({players} players, β = {beta:g})", xlabel="iteration t",
                    ylabel="multiplayer duality gap")
    if not panels:
        _style_axes(axes[0], title="no n-player game in this run", xlabel="iteration t",
                    ylabel="multiplayer duality gap")
    styles = {"last, exact": "-", "last, sampled": "--", "average, exact": ":"}
    _legend(fig, used, [(k, {"ls": ls}) for k, ls in styles.items() if k in kinds])
    _title(fig, "n-player games: multiplayer duality gap (median, IQR over seeds)")
    return fig


# ------------------------------------------------------------------------------------------------------ all of them


def figure_plan(data: RunData) -> dict[str, tuple[str, dict]]:
    """Every figure this run's results support: file stem -> (function name in this module, keyword arguments)."""
    plan: dict[str, tuple[str, dict]] = {}
    for beta in data.betas():
        tag = f"beta{beta:g}"
        if any(t["feedback"] == "exact" for t in data.tasks if t["beta"] == beta and not t.get("num_players")):
            plan[f"gap_vs_iterations_{tag}"] = ("fig_gap_vs_iterations", {"beta": beta})
            plan[f"last_vs_average_{tag}"] = ("fig_last_vs_average", {"beta": beta})
            if beta > 0:
                plan[f"kl_rate_{tag}"] = ("fig_kl_rates", {"beta": beta})
        for fb in ("exact", "sampled"):
            if any(t["feedback"].startswith(fb) for t in data.tasks if t["beta"] == beta and not t.get("num_players")):
                plan[f"gap_vs_queries_{fb}_{tag}"] = ("fig_gap_vs_queries", {"beta": beta, "feedback": fb})
    if data.games(multiplayer=True):
        plan["multiplayer_gap"] = ("fig_multiplayer_gap", {})
    return plan


def all_figures(data: RunData) -> dict[str, Figure]:
    """Every figure this run's results support, by file stem (see :func:`figure_plan`)."""
    return {name: globals()[fn](data, **kw) for name, (fn, kw) in figure_plan(data).items()}


def _draw(directory: str, names: list[str], formats: tuple[str, ...], dpi: int, out: str) -> list[str]:
    """Draw and save some of a run's figures into the folder ``out`` (runs in a worker process, or in this one)."""
    data = RunData(directory)
    plan = figure_plan(data)
    out = Path(out)
    paths = []
    for name in names:
        fn, kw = plan[name]
        fig = globals()[fn](data, **kw)
        for ext in formats:
            p = out / f"{name}.{ext}"
            fig.savefig(p, dpi=dpi)  # constrained layout keeps the legend and wrapped title inside
            paths.append(str(p))
    return paths


def write_figures(directory: str | Path, *, formats: tuple[str, ...] = ("png", "pdf"), dpi: int = 200,
                  workers: int = 1, figs_dir: str | Path | None = None) -> list[Path]:
    """Draw every figure of a run directory into ``DIR/figs/<name>.{png,pdf}`` (or ``figs_dir``); return the written
    paths.

    ``workers > 1`` draws them in that many processes (layout and rendering, not data, dominate: ~1.5 s a figure).
    """
    data = RunData(directory)
    if not data.tasks:
        raise ValueError(f"{directory} holds no finished task yet; nothing to draw")
    out = str(figs_dir if figs_dir is not None else Path(directory) / "figs")
    Path(out).mkdir(parents=True, exist_ok=True)
    names = list(figure_plan(data))
    if workers <= 1 or len(names) <= 1:
        return [Path(p) for p in _draw(str(directory), names, formats, dpi, out)]
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor

    from nashlab.experiments.runner import die_with_parent

    chunks = [names[i::workers] for i in range(workers)]
    # die_with_parent: a killed `nashlab run` or `nashlab figs` leaves no drawing process behind.
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=die_with_parent,
                             initargs=(os.getpid(),)) as ex:
        done = list(ex.map(_draw, [str(directory)] * workers, chunks, [formats] * workers, [dpi] * workers,
                           [out] * workers))
    by_name = {Path(p).stem: [] for p in sum(done, [])}
    for p in sum(done, []):
        by_name[Path(p).stem].append(Path(p))
    return [p for name in names for p in by_name.get(name, [])]
