"""The conformance suite every registered solver must pass (optax style): pure; finite at the extremes (β down to
1e-4, η at the method's limit, n up to 1,000); on the simplex; dtype and device kept; batched == looped; bad
hyper-parameters raise; reproducible sampled feedback."""

import math

import numpy as np
import pytest
import torch

from nashlab.games import PreferenceOracle, make_matrix
from nashlab.solvers import SOLVERS, exact_feedback, make_solver, sampled_feedback

#: per solver: options, and η at the method's limit for a given β (``None`` → no limit; a large η is used).
LIMITS = {
    "mwu": ({}, lambda b: 1e3),
    "sppo": ({}, lambda b: 1e3),
    "inpo": ({}, lambda b: 1.0 / b),
    "nash-md": ({}, lambda b: 1.0 / b),
    "egpo": ({}, lambda b: 1.0 / (b + 1.0)),
    "nash-mp": ({}, lambda b: 2.0),
    "omwu": ({}, lambda b: 0.125),
    "mmd": ({}, lambda b: 4.0 * b),
    "mnpo": ({"num_players": 3}, lambda b: 1e3),
    "td-mnpo": ({"num_players": 3}, lambda b: 1.0 / b),
}
#: solvers whose step-size condition has an upper limit (so η just above it must raise).
HAS_UPPER = {"inpo": lambda b: 1.0 / b, "nash-md": lambda b: 1.0 / b, "egpo": lambda b: 1.0 / (b + 1.0),
             "nash-mp": lambda b: 2.0, "omwu": lambda b: 0.125, "mmd": lambda b: 4.0 * b,
             "td-mnpo": lambda b: 1.0 / b}
NAMES = sorted(SOLVERS)


def _problem(n, seed=0, batch=(), dtype=torch.float64, players=None):
    rng = np.random.default_rng(seed)
    P = np.stack([make_matrix("egpo", n=n, seed=seed + i) for i in range(int(np.prod(batch)))]).reshape(*batch, n, n) \
        if batch else make_matrix("egpo", n=n, seed=seed)
    ref = torch.log_softmax(torch.tensor(rng.normal(size=batch + (n,))), -1).to(dtype)
    shape = batch + ((players,) if players else ()) + (n,)
    l0 = torch.log_softmax(torch.tensor(rng.normal(size=shape) * 3), -1).to(dtype)
    return torch.tensor(P, dtype=dtype), ref, l0


def _make(name, eta=None, beta=0.1):
    opts, _ = LIMITS[name]
    return make_solver(name, eta=eta, beta=beta, **opts)


def _players(name):
    return LIMITS[name][0].get("num_players") if SOLVERS[name].multiplayer else None


def test_conformance_covers_registry():
    assert set(LIMITS) == set(SOLVERS)


@pytest.mark.parametrize("name", NAMES)
def test_pure(name):
    P, ref, l0 = _problem(7, players=_players(name))
    solver = _make(name)
    copies = [t.clone() for t in (P, ref, l0)]
    state = solver.init(ref, l0)
    fb = exact_feedback(P)
    s1 = solver.step(state, fb)
    snapshot = [t.clone() for t in (state.log_pi, state.log_pi_avg)]
    s2 = solver.step(s1, fb)
    s1b = solver.step(state, fb)  # stepping the same state twice gives the same result
    for a, b in zip((P, ref, l0), copies):
        assert torch.equal(a, b)
    for a, b in zip((state.log_pi, state.log_pi_avg), snapshot):
        assert torch.equal(a, b)
    assert state.t == 0 and s1.t == 1 and s2.t == 2
    assert torch.equal(s1.log_pi, s1b.log_pi)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("beta", [1e-4, 1.0])
def test_finite_at_extremes_on_simplex(name, beta):
    """η at the method's limit, β ∈ {1e-4, 1}, n = 1,000: five steps stay finite and on the simplex."""
    if name == "mmd" and beta == 1e-4:
        eta = 4e-4  # the limit 4β
    else:
        eta = LIMITS[name][1](beta)
    P, ref, l0 = _problem(1000, players=_players(name))
    solver = _make(name, eta=eta, beta=beta)
    state = solver.init(ref, l0)
    fb = exact_feedback(P)
    for _ in range(5):
        state = solver.step(state, fb)
    for t in (state.log_pi, state.log_pi_avg):
        assert not torch.isnan(t).any() and not torch.isposinf(t).any()
        assert torch.allclose(t.exp().sum(-1), torch.ones((), dtype=t.dtype), atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_dtype_kept(name):
    P, ref, l0 = _problem(6, dtype=torch.float32, players=_players(name))
    solver = _make(name)
    state = solver.step(solver.init(ref, l0), exact_feedback(P))
    assert state.log_pi.dtype == torch.float32 and state.log_pi_avg.dtype == torch.float32
    assert torch.allclose(state.log_pi.exp().sum(-1), torch.ones(()), atol=1e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("name", NAMES)
def test_device_kept_and_cpu_equals_cuda(name):
    P, ref, l0 = _problem(9, players=_players(name))
    solver = _make(name)
    cpu = solver.init(ref, l0)
    gpu = solver.init(ref.cuda(), l0.cuda())
    for _ in range(3):
        cpu = solver.step(cpu, exact_feedback(P))
        gpu = solver.step(gpu, exact_feedback(P.cuda()))
    assert gpu.log_pi.device.type == "cuda"
    torch.testing.assert_close(gpu.log_pi.cpu(), cpu.log_pi, atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_batched_equals_looped(name):
    B, n = 4, 6
    players = _players(name)
    P, ref, l0 = _problem(n, seed=3, batch=(B,), players=players)
    solver = _make(name)
    batched = solver.init(ref, l0)
    for _ in range(3):
        batched = solver.step(batched, exact_feedback(P))
    for b in range(B):
        single = solver.init(ref[b], l0[b])
        for _ in range(3):
            single = solver.step(single, exact_feedback(P[b]))
        torch.testing.assert_close(batched.log_pi[b], single.log_pi, atol=1e-12, rtol=0)
        torch.testing.assert_close(batched.log_pi_avg[b], single.log_pi_avg, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("eta", [0.0, -1.0, math.nan, math.inf, "x"])
def test_bad_eta_raises(name, eta):
    with pytest.raises(ValueError, match="eta"):
        _make(name, eta=eta)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("beta", [-0.1, math.nan, math.inf])
def test_bad_beta_raises(name, beta):
    with pytest.raises(ValueError, match="beta"):
        _make(name, eta=0.01, beta=beta)


@pytest.mark.parametrize("name", sorted(HAS_UPPER))
def test_step_size_condition_raises(name):
    beta = 0.1
    limit = HAS_UPPER[name](beta)
    _make(name, eta=limit, beta=beta)  # at the limit: accepted
    with pytest.raises(ValueError, match="eta"):
        _make(name, eta=limit * 1.01, beta=beta)


def test_unknown_name_and_option_raise():
    with pytest.raises(ValueError, match="unknown solver 'nope'"):
        make_solver("nope")
    with pytest.raises(ValueError, match="takes no option"):
        make_solver("egpo", num_players=3)
    with pytest.raises(ValueError, match="num_players"):
        make_solver("mnpo", num_players=1)
    with pytest.raises(ValueError, match="lam"):
        make_solver("td-mnpo", num_players=3, lam=(0.5, 0.6))
    with pytest.raises(ValueError, match="rho"):
        make_solver("td-mnpo", eta=0.1, beta=0.1, rho=0.5)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_documented_and_valid(name):
    """``None`` hyper-parameters resolve to the solver's documented defaults (named in its module docstring)."""
    solver = make_solver(name)
    import importlib

    module = importlib.import_module(SOLVERS[name].factory.__module__)
    assert solver.hparams["eta"] == module.DEFAULT_ETA
    assert f"{module.DEFAULT_ETA:g}" in module.__doc__


@pytest.mark.parametrize("name", NAMES)
def test_sampled_feedback_reproducible(name):
    P, ref, l0 = _problem(5, players=_players(name))
    solver = _make(name)

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
