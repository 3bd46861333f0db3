"""One look for every figure: a fixed colour per solver, column-width panels, small fonts that stay readable.

A panel is :data:`PANEL_W` × :data:`PANEL_H` inches (a two-column paper's column is ≈ 3.3 in), so a one-panel figure
drops into a column at 100 % and the fonts below print at 7–8 pt.
"""

from __future__ import annotations

import hashlib

#: Fixed solver -> colour map (colour-blind-friendly tab10 order), identical in every figure.
SOLVER_COLORS: dict[str, str] = {
    "egpo": "#d62728",     # red: the method the suite was built around
    "nash-mp": "#2ca02c",  # green
    "mmd": "#17becf",      # cyan
    "inpo": "#1f77b4",     # blue
    "nash-md": "#9467bd",  # purple
    "omwu": "#ff7f0e",     # orange
    "mwu": "#7f7f7f",      # grey: the non-convergent baseline
    "sppo": "#bcbd22",     # olive
    "mnpo": "#8c564b",     # brown
    "td-mnpo": "#e377c2",  # pink
}
_EXTRA = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#31a354", "#756bb1")

#: Fixed solver -> marker map: rules whose curves coincide (MWU, SPPO and two-player MNPO are one update) stay
#: distinguishable by their markers, which are staggered along the curve, and in greyscale print.
SOLVER_MARKERS: dict[str, str] = {
    "egpo": "o",
    "nash-mp": "s",
    "mmd": "D",
    "inpo": "^",
    "nash-md": "v",
    "omwu": "<",
    "mwu": ">",
    "sppo": "P",
    "mnpo": "X",
    "td-mnpo": "*",
}
_EXTRA_MARKERS = ("h", "p", "d", "8", "H", "1", "2", "3")

#: Line style per feedback kind (colour is the solver, style the feedback).
FEEDBACK_STYLES = {"exact": "-", "sampled": "--"}

PANEL_W = 3.3
PANEL_H = 2.4

RC = {
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "lines.linewidth": 1.2,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "pdf.fonttype": 42,  # embed TrueType: editable text in the PDF, accepted by publishers
}


def solver_color(name: str) -> str:
    """The colour of a solver (a stable fallback for names outside :data:`SOLVER_COLORS`)."""
    if name in SOLVER_COLORS:
        return SOLVER_COLORS[name]
    return _EXTRA[int(hashlib.md5(name.encode()).hexdigest(), 16) % len(_EXTRA)]


def solver_marker(name: str) -> str:
    """The marker of a solver (a stable fallback for names outside :data:`SOLVER_MARKERS`)."""
    if name in SOLVER_MARKERS:
        return SOLVER_MARKERS[name]
    return _EXTRA_MARKERS[int(hashlib.md5(name.encode()).hexdigest(), 16) % len(_EXTRA_MARKERS)]


def feedback_style(feedback: str) -> str:
    return FEEDBACK_STYLES.get(feedback.split(":")[0], ":")
