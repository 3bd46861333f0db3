"""The conformance suite every registered rule passes (optax style), parametrised over the registry: the checks are
``nashlab verify``'s own (:mod:`nashlab.solvers.verify`), so a user's rule meets exactly the bar a built-in one does —
pure under exact and sampled feedback; batched == looped; float32 follows float64; CUDA == CPU; finite and on the
simplex at n = 1,000 and at the η limit with β down to 1e-4; anchor weights that sum to 1; bad hyper-parameters
refused. Plus what only a registry entry has: documented defaults, named refusals, reproducible sampled runs."""

import importlib
import math

import pytest
import torch

from nashlab.games import PreferenceOracle
from nashlab.solvers import RULES, exact_feedback, make_solver, sampled_feedback
from nashlab.solvers import verify as V

NAMES = sorted(RULES)
CHECKS = [V.check_purity, V.check_batched, V.check_dtype, V.check_large_n, V.check_anchor_weights, V.check_eta_limit,
          V.check_refusals]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("beta", [None, 1e-4])
def test_conformance(name, check, beta):
    """At the defaults, and at β = 1e-4 with η at the declared limit for that β (or the default η without a limit)."""
    rule = RULES[name]
    hp = rule.hparams()
    if beta is not None:
        hp = V._limit_hp(rule, hp, beta) if rule.eta_max is not None else rule.hparams(beta=beta)
    result = check(rule, hp)
    assert result.passed, result


@pytest.mark.gpu
@pytest.mark.parametrize("name", NAMES)
def test_cuda_equals_cpu(name):
    result = V.check_cuda(RULES[name], RULES[name].hparams())
    assert result.passed, result


def test_purity_under_sampled_feedback_keeps_the_random_state_in_the_state():
    """``step`` is pure with sampled feedback: the feedback's random state travels in the solver state, so the same
    state stepped twice with the same feedback object gives bit-identical next states (and so does a fresh object)."""
    P = torch.tensor([[0.5, 0.9, 0.2], [0.1, 0.5, 0.7], [0.8, 0.3, 0.5]], dtype=torch.float64)
    solver = make_solver("egpo", eta=0.5, beta=0.1)
    fb = sampled_feedback(PreferenceOracle(P, seed=3), 8, estimator="reuse")
    s = solver.step(solver.init(torch.zeros(3, dtype=torch.float64)), fb)
    a, b = solver.step(s, fb), solver.step(s, fb)
    assert torch.equal(a.log_pi, b.log_pi) and a.feedback_state is not None
    fb2 = sampled_feedback(PreferenceOracle(P, seed=3), 8, estimator="reuse")
    assert torch.equal(solver.step(s, fb2).log_pi, a.log_pi)


def test_unknown_name_and_option_raise():
    with pytest.raises(ValueError, match="unknown solver 'nope'"):
        make_solver("nope")
    with pytest.raises(ValueError, match="did you mean 'egpo'"):
        make_solver("egpp")
    with pytest.raises(ValueError, match="takes no option"):
        make_solver("egpo", num_players=3)
    with pytest.raises(ValueError, match="num_players"):
        make_solver("mnpo", num_players=1)
    with pytest.raises(ValueError, match="lam"):
        make_solver("td-mnpo", num_players=3, lam=(0.5, 0.6))
    with pytest.raises(ValueError, match="rho"):
        make_solver("td-mnpo", eta=0.1, beta=0.1, rho=0.5)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("eta", [0.0, -1.0, math.nan, math.inf, "x"])
def test_bad_eta_names_eta(name, eta):
    with pytest.raises(ValueError, match="eta"):
        make_solver(name, eta=eta)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_documented_and_valid(name):
    """``None`` hyper-parameters resolve to the declared defaults, which the rule's module docstring states."""
    rule = RULES[name]
    solver = make_solver(name)
    assert solver.hparams["eta"] == rule.eta_default
    module = importlib.import_module(f"nashlab.solvers.{name.replace('-', '_')}")
    assert module.RULE is rule
    assert f"{rule.eta_default:g}" in module.__doc__


@pytest.mark.parametrize("name", NAMES)
def test_sampled_feedback_reproducible(name):
    rule = RULES[name]
    hp = rule.hparams()
    P, ref, l0 = V._problem(5, rule=rule, hp=hp)
    solver = make_solver(name)

    def go(seed):
        state = solver.init(ref, l0)
        fb = sampled_feedback(PreferenceOracle(P, seed=seed), 8)
        for _ in range(4):
            state = solver.step(state, fb)
        return state.log_pi, fb.queries

    (a, qa), (b, qb), (c, _) = go(1), go(1), go(2)
    assert torch.equal(a, b) and qa == qb > 0
    assert not torch.equal(a, c)


def test_bad_init_shapes_raise():
    solver = make_solver("egpo")
    ref = torch.zeros(4, dtype=torch.float64)
    with pytest.raises(ValueError, match="actions"):
        solver.init(ref, torch.zeros(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="NaN"):
        solver.init(torch.tensor([0.0, math.nan], dtype=torch.float64))
    with pytest.raises(ValueError, match="num_players"):
        make_solver("mnpo", num_players=3).init(ref, torch.zeros(2, 4, dtype=torch.float64))


def test_exact_feedback_state_is_none():
    P = torch.eye(3, dtype=torch.float64) * 0 + 0.5
    s = make_solver("inpo").step(make_solver("inpo").init(torch.zeros(3, dtype=torch.float64)), exact_feedback(P))
    assert s.feedback_state is None
