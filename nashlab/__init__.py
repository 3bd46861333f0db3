"""nashlab: a testbed for Nash learning from human feedback (NLHF).

The code lives in top-level folders (docs/design.md §1), installed as subpackages:
``nashlab.games`` (preference games, exact equilibria, metrics), ``nashlab.solvers`` (update rules and their losses),
``nashlab.llm_bridge`` (the same losses on transformer policies), ``nashlab.experiments`` (configs, runner, store, CLI)
and ``nashlab.paper_figs`` (figures from stored results).
"""

__version__ = "0.1.0"
