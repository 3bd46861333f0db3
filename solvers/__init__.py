"""NLHF solvers as pure, batched update rules on log-policies, their losses on log-probabilities, and a driver.

    from nashlab.solvers import SOLVERS, make_solver, exact_feedback, sampled_feedback, solve, get_loss

A solver is ``Solver(init, step)`` over an immutable :class:`SolverState` (``log_pi``, ``log_pi_avg``, ``t``, …);
``step(state, feedback)`` takes a callable ``pi -> Pπ``. One module per rule (``mwu``, ``sppo``, ``inpo``,
``nash_md``, ``egpo``, ``nash_mp``, ``omwu``, ``mmd``, ``mnpo``, ``td_mnpo``), each with its closed form, factory and
loss; the shared mirror-descent core is :mod:`.core`; metrics come from :mod:`nashlab.games`, never from a solver.
Step-size schedules live in :mod:`.schedules`, estimators of the win-rate difference under sampled feedback in
:mod:`.estimators` (tensor functions an LLM trainer calls as they are).
"""

from .core import Solver, SolverState, mirror_loss, tabular_prox
from .feedback import ExactFeedback, SampledFeedback, exact_feedback, sampled_feedback
from .registry import SOLVERS, SolverSpec, get_loss, make_solver
from .solve import SolveResult, solve

__all__ = [
    "SOLVERS", "ExactFeedback", "SampledFeedback", "SolveResult", "Solver", "SolverSpec", "SolverState",
    "exact_feedback", "get_loss", "make_solver", "mirror_loss", "sampled_feedback", "solve", "tabular_prox",
]
