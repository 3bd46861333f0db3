"""Loss ≡ step: minimising each rule's loss (``get_loss(name)``) over free tabular logits reproduces the closed-form
step to 1e-6. Pairs are weighted in expectation by a full-support ``ρ(y)ρ(y')`` (ρ random, not uniform), targets are
the exact win-rate differences against the rule's opponent; the minimiser is found by one Newton step on the
(quadratic) loss with autograd derivatives, so nothing of the closed form enters the minimisation."""

import numpy as np
import pytest
import torch

from nashlab.games import make_matrix
from nashlab.solvers import SOLVERS, exact_feedback, get_loss, make_solver
from nashlab.solvers.egpo import egpo_step
from nashlab.solvers.nash_md import mixture
from nashlab.solvers.nash_mp import nash_mp_step
from nashlab.solvers.sppo import sppo_pointwise_loss

TOL = 1e-6
n = 6


def _setup(seed=0):
    rng = np.random.default_rng(seed)
    P = torch.tensor(make_matrix("egpo", n=n, seed=seed))
    l_ref = torch.log_softmax(torch.tensor(rng.normal(size=n)), -1)
    l_t = torch.log_softmax(torch.tensor(rng.normal(size=n)), -1)
    rho = torch.softmax(torch.tensor(rng.normal(size=n)), -1)  # full-support pair sampling distribution
    return P, l_ref, l_t, rho


def _pairs(v):
    """All ordered pairs: ``(v[y], v[y'])`` flattened to ``[n·n]`` (works on ``[n]`` and ``[n, k]``)."""
    return v[:, None].expand(n, n, *v.shape[1:]).reshape(n * n, *v.shape[1:]), \
        v[None, :].expand(n, n, *v.shape[1:]).reshape(n * n, *v.shape[1:])


def _minimise(loss_of_theta, weights):
    """argmin_θ Σ_pairs w · loss(θ) by a Newton step (exact for a quadratic), returned normalised."""
    theta = torch.zeros(n, dtype=torch.float64, requires_grad=True)

    def total(th):
        return (weights * loss_of_theta(th)).sum()

    grad = torch.autograd.grad(total(theta), theta, create_graph=True)[0]
    H = torch.stack([torch.autograd.grad(grad[i], theta, retain_graph=True)[0] for i in range(n)])
    step = torch.linalg.pinv(H) @ grad.detach()  # H is singular along 1 (logits are defined up to a constant)
    return torch.log_softmax(theta.detach() - step, -1)


def _diff(g):
    a, b = _pairs(g)
    return a - b


def _theta_pairs(th):
    return _pairs(th)


def _check(loss_fn, kwargs_of_pairs, target_g, expected, rho):
    a, b = _pairs(rho)
    w = a * b
    tgt = _diff(target_g)

    def loss_of_theta(th):
        y, yp = _theta_pairs(th)
        return loss_fn(y, yp, target=tgt, reduction="none", **kwargs_of_pairs)

    got = _minimise(loss_of_theta, w)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=TOL, rtol=0)


def _kw(l_ref, l_t):
    ry, ryp = _pairs(l_ref)
    ty, typ = _pairs(l_t)
    return dict(log_pi_ref_y=ry, log_pi_ref_yp=ryp, log_pi_t_y=ty, log_pi_t_yp=typ)


@pytest.mark.parametrize("name", ["mwu", "sppo"])
def test_hedge_losses(name):
    P, l_ref, l_t, rho = _setup(1)
    eta = 0.7
    s = make_solver(name, eta=eta)
    fb = exact_feedback(P)
    expected = s.step(s.init(l_ref, l_t), fb).log_pi
    ty, typ = _pairs(l_t)
    _check(get_loss(name), dict(log_pi_t_y=ty, log_pi_t_yp=typ, eta=eta), P @ l_t.exp(), expected, rho)


@pytest.mark.parametrize("name", ["inpo", "mmd", "nash-md"])
def test_single_step_losses(name):
    P, l_ref, l_t, rho = _setup(2)
    eta, beta = 0.6, 0.4
    s = make_solver(name, eta=eta, beta=beta)
    expected = s.step(s.init(l_ref, l_t), exact_feedback(P)).log_pi
    opp = mixture(l_t, l_ref, eta, beta) if name == "nash-md" else l_t  # Nash-MD's opponent is the mixture
    _check(get_loss(name), dict(eta=eta, beta=beta, **_kw(l_ref, l_t)), P @ opp.exp(), expected, rho)


@pytest.mark.parametrize("name,step_fn,eta", [("egpo", egpo_step, 0.7), ("nash-mp", nash_mp_step, 1.8)])
def test_extragradient_losses_both_half_steps(name, step_fn, eta):
    """Half step: opponent π_t; full step: opponent π_½, anchored at π_t again (restore-and-step)."""
    P, l_ref, l_t, rho = _setup(3)
    beta = 0.3
    nxt, half = step_fn(l_t, l_ref, exact_feedback(P), eta, beta)
    kw = dict(eta=eta, beta=beta, **_kw(l_ref, l_t))
    _check(get_loss(name), kw, P @ l_t.exp(), half, rho)
    _check(get_loss(name), kw, P @ half.exp(), nxt, rho)


def test_omwu_loss_optimistic_target():
    P, l_ref, l0, rho = _setup(4)
    eta = 0.1
    s = make_solver("omwu", eta=eta)
    fb = exact_feedback(P)
    s1 = s.step(s.init(l_ref, l0), fb)
    s2 = s.step(s1, fb)
    ty, typ = _pairs(s1.log_pi)
    target_g = 2 * (P @ s1.log_pi.exp()) - P @ l0.exp()  # 2Pπ_t − Pπ_{t−1}
    _check(get_loss("omwu"), dict(log_pi_t_y=ty, log_pi_t_yp=typ, eta=eta), target_g, s2.log_pi, rho)


def test_mnpo_loss_player():
    P, l_ref, _, rho = _setup(5)
    N, eta, i = 4, 0.5, 2
    L = torch.log_softmax(torch.tensor(np.random.default_rng(9).normal(size=(N, n))), -1)
    s = make_solver("mnpo", eta=eta, num_players=N)
    expected = s.step(s.init(l_ref, L), exact_feedback(P)).log_pi[i]
    others = [j for j in range(N) if j != i]
    opp = L[others].T  # [n, N−1]
    oy, oyp = _pairs(opp)
    target_g = torch.stack([P @ L[j].exp() for j in others]).mean(0)
    _check(get_loss("mnpo"), dict(log_pi_opp_y=oy, log_pi_opp_yp=oyp, eta=eta), target_g, expected, rho)


def test_td_mnpo_loss_history():
    P, l_ref, l0, rho = _setup(6)
    eta, beta, lam = 0.4, 0.5, (0.25, 0.35, 0.4)
    s = make_solver("td-mnpo", eta=eta, beta=beta, num_players=4, lam=lam)
    fb = exact_feedback(P)
    st = s.step(s.step(s.init(l_ref, l0), fb), fb)  # history ℓ_2, ℓ_1, ℓ_0
    hist = torch.stack([st.log_pi, *st.memory], -1)  # [n, H]
    expected = s.step(st, fb).log_pi
    hy, hyp = _pairs(hist)
    ry, ryp = _pairs(l_ref)
    kw = dict(log_pi_ref_y=ry, log_pi_ref_yp=ryp, log_pi_hist_y=hy, log_pi_hist_yp=hyp, lam=lam, rho=eta * beta,
              eta=eta)
    _check(get_loss("td-mnpo"), kw, P @ st.log_pi.exp(), expected, rho)


def test_inpo_label_form_self_play():
    """INPO Prop. 6: with y, y' ~ π_t i.i.d. and the label target o(y≻y') − ½ (in expectation P[y, y'] − ½), the
    minimiser is still the INPO step."""
    P, l_ref, l_t, _ = _setup(7)
    eta, beta = 0.5, 0.6
    s = make_solver("inpo", eta=eta, beta=beta)
    expected = s.step(s.init(l_ref, l_t), exact_feedback(P)).log_pi
    a, b = _pairs(l_t.exp())
    w = a * b
    kw = _kw(l_ref, l_t)
    label = (P - 0.5).reshape(-1)

    def loss_of_theta(th):
        y, yp = _pairs(th)
        return get_loss("inpo")(y, yp, target=label, eta=eta, beta=beta, reduction="none", **kw)

    np.testing.assert_allclose(_minimise(loss_of_theta, w).numpy(), expected.numpy(), atol=TOL, rtol=0)


def test_sppo_pointwise():
    """SPPO's pointwise loss over free unnormalised logits, normalised afterwards, is the Hedge step."""
    P, l_ref, l_t, rho = _setup(8)
    eta = 0.9
    s = make_solver("sppo", eta=eta)
    expected = s.step(s.init(l_ref, l_t), exact_feedback(P)).log_pi
    theta = torch.zeros(n, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([theta], lr=1, max_iter=200, tolerance_grad=1e-14, tolerance_change=0,
                            line_search_fn="strong_wolfe")
    g = P @ l_t.exp()

    def closure():
        opt.zero_grad()
        loss = (rho * sppo_pointwise_loss(theta, log_pi_t_y=l_t, win_rate=g, eta=eta, reduction="none")).sum()
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(torch.log_softmax(theta.detach(), -1).numpy(), expected.numpy(), atol=TOL, rtol=0)


def test_every_registered_loss_is_covered():
    covered = {"mwu", "sppo", "inpo", "mmd", "nash-md", "egpo", "nash-mp", "omwu", "mnpo", "td-mnpo"}
    assert covered == set(SOLVERS)
