"""Paper figures from stored results: one function per figure (results -> matplotlib Figure), and
:func:`write_figures` which draws them all into ``DIR/figs`` as PNG and PDF (``nashlab figs DIR``)."""

from .figures import (
    RunData,
    all_figures,
    fig_gap_vs_iterations,
    fig_gap_vs_queries,
    fig_kl_rates,
    fig_last_vs_average,
    fig_multiplayer_gap,
    write_figures,
)
from .rates import contraction
from .style import SOLVER_COLORS, solver_color

__all__ = [
    "SOLVER_COLORS", "RunData", "all_figures", "contraction", "fig_gap_vs_iterations", "fig_gap_vs_queries",
    "fig_kl_rates", "fig_last_vs_average", "fig_multiplayer_gap", "solver_color", "write_figures",
]
