"""NLHF solvers as pure, batched update rules on log-policies, their losses on log-probabilities, and a driver.

    from nashlab.solvers import SOLVERS, make_solver, exact_feedback, sampled_feedback, solve, get_loss

Each rule is declared once, as data (:class:`Rule`, :mod:`.rule`), and its batched tabular step, its loss and its
LLM realisation are derived from the declaration. A solver is ``Solver(init, step)`` over an immutable :class:`SolverState` (``log_pi``, ``log_pi_avg``, ``t``, …);
``step(state, feedback)`` takes a callable ``pi -> Pπ``. One module per rule (``mwu``, ``sppo``, ``inpo``,
``nash_md``, ``egpo``, ``nash_mp``, ``omwu``, ``mmd``, ``mnpo``, ``td_mnpo``), each with its closed form, factory and
loss; the shared mirror-descent core is :mod:`.core`; metrics come from :mod:`nashlab.games`, never from a solver.
Step-size schedules live in :mod:`.schedules`, estimators of the win-rate difference under sampled feedback in
:mod:`.estimators` (tensor functions an LLM trainer calls as they are).
"""

from .core import Solver, SolverState, mirror_loss, tabular_prox
from .feedback import ExactFeedback, SampledFeedback, exact_feedback, sampled_feedback
from .registry import RULES, SOLVERS, get_loss, load_rule, make_solver
from .rule import Claim, Option, Phase, Rule, RuleLoss, RuleState, anchor, opponent
from .solve import SolveResult, solve

__all__ = [
    "Claim", "ExactFeedback", "Option", "Phase", "RULES", "Rule", "RuleLoss", "RuleState", "SOLVERS",
    "SampledFeedback", "SolveResult", "Solver", "SolverState", "anchor", "exact_feedback", "get_loss", "load_rule",
    "make_solver", "mirror_loss", "opponent", "sampled_feedback", "solve", "tabular_prox",
]
