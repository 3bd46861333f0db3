"""Faithfulness: a few steps of every rule equal an independent plain-numpy computation of the formula written from
its paper (docs/algorithms.md §1), not from the declaration (1e-10), half steps included; the derived step equals the
plain-numpy evaluation of the declaration (``nashlab verify``'s ``faithful`` check); π*_β is a fixed point of every
rule whose claim is linear convergence to it; MNPO reduces to Hedge when players coincide."""

import numpy as np
import pytest
import torch
from scipy.special import log_softmax

from nashlab.games import make_matrix, regularized_nash
from nashlab.solvers import RULES, Rule, exact_feedback, make_solver
from nashlab.solvers import verify as V

STEPS = 5
TOL = 1e-10


def _game(n=6, seed=3):
    P = make_matrix("egpo", n=n, seed=seed)
    rng = np.random.default_rng(seed)
    l_ref = log_softmax(rng.normal(size=n))
    l0 = log_softmax(rng.normal(size=n))
    return P, l_ref, l0


def _norm(x):
    return log_softmax(x)


# Independent numpy versions of the update lines of docs/design.md §2 (ℓ = log π, g = Pπ), written from the formulas, not the code.
def np_mwu(l, P, lr, eta, beta, mem):
    return _norm(l + eta * P @ np.exp(l)), mem


def np_inpo(l, P, lr, eta, beta, mem):
    return _norm((1 - eta * beta) * l + eta * beta * lr + eta * P @ np.exp(l)), mem


def np_nash_md(l, P, lr, eta, beta, mem):
    lm = _norm((1 - eta * beta) * l + eta * beta * lr)  # π^μ ∝ π^{1−ηβ} π_ref^{ηβ}
    return _norm(lm + eta * P @ np.exp(lm)), mem


def np_egpo(l, P, lr, eta, beta, mem):
    lh = _norm((1 - eta * beta) * l + eta * beta * lr + eta * P @ np.exp(l))
    return _norm((1 - eta * beta) * l + eta * beta * lr + eta * P @ np.exp(lh)), lh


def np_nash_mp(l, P, lr, eta, beta, mem):
    lh = _norm((l + eta * beta * lr + eta * P @ np.exp(l)) / (1 + eta * beta))
    return _norm((l + eta * beta * lr + eta * P @ np.exp(lh)) / (1 + eta * beta)), lh


def np_omwu(l, P, lr, eta, beta, mem):
    g = P @ np.exp(l)
    g_prev = g if mem is None else mem  # π_{−1} = π_0
    return _norm(l + eta * (2 * g - g_prev)), g


def np_mmd(l, P, lr, eta, beta, mem):
    return _norm((l + eta * beta * lr + eta * P @ np.exp(l)) / (1 + eta * beta)), mem


def np_td_mnpo(l, P, lr, eta, beta, mem, lam=(0.3, 0.7)):
    hist = [l] + (mem if mem is not None else [l] * (len(lam) - 1))
    rho = eta * beta
    nxt = _norm(rho * lr + (1 - rho) * sum(w * h for w, h in zip(lam, hist)) + eta * P @ np.exp(l))
    return nxt, hist[: len(lam) - 1]


CASES = {
    "mwu": (np_mwu, dict(eta=0.3, beta=0.1)),
    "sppo": (np_mwu, dict(eta=0.3, beta=0.1)),
    "inpo": (np_inpo, dict(eta=0.3, beta=0.5)),
    "nash-md": (np_nash_md, dict(eta=0.3, beta=0.5)),
    "egpo": (np_egpo, dict(eta=0.6, beta=0.3)),
    "nash-mp": (np_nash_mp, dict(eta=1.5, beta=0.3)),
    "omwu": (np_omwu, dict(eta=0.1, beta=0.0)),
    "mmd": (np_mmd, dict(eta=0.8, beta=0.3)),
    "td-mnpo": (np_td_mnpo, dict(eta=0.3, beta=0.5, lam=(0.3, 0.7))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_steps_match_numpy(name):
    fn, hp = CASES[name]
    P, l_ref, l0 = _game()
    solver = make_solver(name, **hp)
    fb = exact_feedback(torch.tensor(P))
    state = solver.init(torch.tensor(l_ref), torch.tensor(l0))
    l, mem = l0.copy(), None
    avg = np.exp(l0)
    for t in range(STEPS):
        state = solver.step(state, fb)
        l, mem = fn(l, P, l_ref, hp["eta"], hp["beta"], mem)
        avg = (avg * (t + 1) + np.exp(l)) / (t + 2)
        np.testing.assert_allclose(state.log_pi.numpy(), l, atol=TOL, rtol=0)
        np.testing.assert_allclose(state.log_pi_avg.exp().numpy(), avg, atol=TOL, rtol=0)
    assert state.t == STEPS


@pytest.mark.parametrize("name,np_fn", [("egpo", np_egpo), ("nash-mp", np_nash_mp)])
def test_half_steps_match_numpy(name, np_fn):
    """The first phase alone (a one-phase rule declared from it) is the paper's half step."""
    P, l_ref, l0 = _game(n=8, seed=5)
    eta, beta = (0.7, 0.2) if name == "egpo" else (1.7, 0.2)
    full = RULES[name]
    half_rule = Rule(name=f"{name}-half", update="", fixed_point="", paper="", phases=full.phases[:1], claim=full.claim,
                     eta_max=full.eta_max)
    hp = full.hparams(eta=eta, beta=beta)
    fb = exact_feedback(torch.tensor(P))
    half = half_rule.make(**hp).step(half_rule.make(**hp).init(torch.tensor(l_ref), torch.tensor(l0)), fb).log_pi
    nxt = full.make(**hp).step(full.make(**hp).init(torch.tensor(l_ref), torch.tensor(l0)), fb).log_pi
    want_next, want_half = np_fn(l0, P, l_ref, eta, beta, None)
    np.testing.assert_allclose(half.numpy(), want_half, atol=TOL, rtol=0)
    np.testing.assert_allclose(nxt.numpy(), want_next, atol=TOL, rtol=0)


@pytest.mark.parametrize("name", sorted(RULES))
def test_derived_step_equals_numpy_evaluation_of_the_declaration(name):
    result = V.check_faithful(RULES[name], RULES[name].hparams())
    assert result.passed, result


def test_mnpo_matches_numpy():
    """``π_i' ∝ (Π_{j≠i} π_j)^{1/(N−1)} exp((η/(N−1)) Σ_{j≠i} Pπ_j)`` from distinct starts, N = 4."""
    P, l_ref, _ = _game(n=5, seed=7)
    N, eta = 4, 0.4
    rng = np.random.default_rng(11)
    L = log_softmax(rng.normal(size=(N, 5)), axis=-1)
    solver = make_solver("mnpo", eta=eta, num_players=N)
    state = solver.init(torch.tensor(l_ref), torch.tensor(L))
    fb = exact_feedback(torch.tensor(P))
    for _ in range(STEPS):
        state = solver.step(state, fb)
        new = np.empty_like(L)
        for i in range(N):
            others = [j for j in range(N) if j != i]
            geo = sum(L[j] for j in others) / (N - 1)
            win = sum(P @ np.exp(L[j]) for j in others)
            new[i] = _norm(geo + eta / (N - 1) * win)
        L = new
        np.testing.assert_allclose(state.log_pi.numpy(), L, atol=TOL, rtol=0)


def test_mnpo_reduces_to_hedge():
    """With all players equal, MNPO (theory form) is Hedge on the common policy, for every step."""
    P, l_ref, l0 = _game(n=7, seed=2)
    N, eta = 3, 0.25
    m = make_solver("mnpo", eta=eta, num_players=N)
    h = make_solver("mwu", eta=eta)
    fb = exact_feedback(torch.tensor(P))
    sm = m.init(torch.tensor(l_ref), torch.tensor(np.tile(l0, (N, 1))))
    sh = h.init(torch.tensor(l_ref), torch.tensor(l0))
    for _ in range(STEPS):
        sm, sh = m.step(sm, fb), h.step(sh, fb)
        for i in range(N):
            np.testing.assert_allclose(sm.log_pi[i].numpy(), sh.log_pi.numpy(), atol=TOL, rtol=0)


# Rules whose claim is linear convergence to π*_β (Nash-MD's constant-step fixed point is biased; MWU, SPPO, OMWU and
# MNPO claim average-iterate results).
FIXED_POINT = sorted(k for k, r in RULES.items() if r.claim.kind == "linear")


@pytest.mark.parametrize("name", FIXED_POINT)
def test_fixed_point(name):
    P, l_ref, _ = _game(n=9, seed=4)
    hp = RULES[name].hparams(beta=0.2)
    pi_star, l_star = regularized_nash(P, pi_ref=np.exp(l_ref), beta=hp["beta"], return_log=True)
    solver = make_solver(name, **hp)
    state = solver.init(torch.tensor(l_ref), torch.tensor(l_star))
    fb = exact_feedback(torch.tensor(P))
    for _ in range(3):
        state = solver.step(state, fb)
    # regularized_nash's residual is ~1e-13 in the logits; one step moves a 1e-13 error by O(1) factors.
    np.testing.assert_allclose(state.log_pi.numpy(), l_star, atol=1e-11, rtol=0)


def test_cases_cover_the_papers_rules():
    """Each of the ten rules taken from a paper is checked against its paper's formula here (mnpo by its own test);
    a rule added later is covered by the registry-wide checks (its derived step against a numpy evaluation of its
    declaration, ``nashlab verify``)."""
    papers = {"mwu", "sppo", "inpo", "nash-md", "egpo", "nash-mp", "omwu", "mmd", "mnpo", "td-mnpo"}
    assert set(CASES) | {"mnpo"} == papers and papers <= set(RULES)
    assert {"inpo", "egpo", "nash-mp", "mmd", "td-mnpo"} <= set(FIXED_POINT)
