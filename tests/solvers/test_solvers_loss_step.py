"""Loss ≡ step, for every registered rule and each of its phases: minimising the rule's derived loss over free tabular
logits reproduces the closed-form phase step to 1e-6.

Two independent routes: ``nashlab verify``'s ``loss-step`` check (uniform pairs, L-BFGS, pairwise and pointwise
forms), and here pairs weighted by a random full-support ``ρ(y)ρ(y')`` with the minimiser found by one Newton step on
the (quadratic) loss with autograd derivatives, so nothing of the closed form enters the minimisation; the expected
step is the plain-numpy evaluation of the declaration (:func:`nashlab.solvers.verify.numpy_step`). Plus INPO's label
form (Prop. 6) and SPPO's pointwise paper loss."""

import numpy as np
import pytest
import torch

from nashlab.games import make_matrix
from nashlab.solvers import RULES, exact_feedback, make_solver
from nashlab.solvers import verify as V
from nashlab.solvers.sppo import sppo_pointwise_loss

TOL = 1e-6
n = 6


def _pairs(v):
    """All ordered pairs: ``(v[y], v[y'])`` flattened to ``[n·n]``."""
    return v[:, None].expand(n, n).reshape(n * n), v[None, :].expand(n, n).reshape(n * n)


def _minimise(loss_of_theta, weights):
    """argmin_θ Σ_pairs w · loss(θ) by a Newton step (exact for a quadratic), returned normalised."""
    theta = torch.zeros(n, dtype=torch.float64, requires_grad=True)
    grad = torch.autograd.grad((weights * loss_of_theta(theta)).sum(), theta, create_graph=True)[0]
    H = torch.stack([torch.autograd.grad(grad[i], theta, retain_graph=True)[0] for i in range(n)])
    step = torch.linalg.pinv(H) @ grad.detach()  # H is singular along 1 (logits are defined up to a constant)
    return torch.log_softmax(theta.detach() - step, -1)


@pytest.mark.parametrize("name", sorted(RULES))
def test_verify_loss_step(name):
    rule = RULES[name]
    result = V.check_loss_step(rule, rule.hparams())
    assert result.passed, result


@pytest.mark.parametrize("name", sorted(RULES))
def test_weighted_pairs_newton(name):
    rule = RULES[name]
    hp = rule.hparams()
    rng = np.random.default_rng(1)
    P = make_matrix("egpo", n=n, seed=2)
    ref = np.log(np.exp(rng.normal(size=n)) / np.exp(rng.normal(size=n)).sum())
    ref = ref - np.log(np.exp(ref).sum())
    shape = (int(hp[rule.players]), n) if rule.multiplayer else (n,)
    traj = [rng.normal(size=shape) for _ in range(3)]
    traj = [x - np.log(np.exp(x).sum(-1, keepdims=True)) for x in traj]
    ell, past = traj[0], traj[1:]
    lag, win_lag = rule.lags(hp)
    past = (past + [past[-1]] * lag)[:lag]
    past_g = [np.exp(x) @ P.T for x in past][:win_lag]
    _, outs, g_t = V.numpy_step(rule, hp, P, ref, ell, past, past_g)
    rho = torch.softmax(torch.tensor(rng.normal(size=n)), -1)
    a, b = _pairs(rho)
    w = a * b
    for k, (anchors, _, _) in enumerate(rule.resolved_phases(hp)):
        src = V._sources(rule, ell, ref, past)
        anchor = sum(wk * src[t.source if t.kind == "past" else t.kind] for t, wk in anchors)
        g = V._phase_win_rate(rule, hp, k, P, ell, outs, past_g, g_t, anchor)
        loss = rule.loss(hp, k)
        rows = range(shape[0]) if rule.multiplayer else [None]
        for i in rows:
            pick = (lambda x: x) if i is None else (lambda x: x[i])
            s_y, s_yp = {}, {}
            for key, v in src.items():
                s_y[key], s_yp[key] = _pairs(torch.as_tensor(np.array(pick(v))))
            gy, gyp = _pairs(torch.as_tensor(np.array(pick(g))))

            def loss_of_theta(th):
                y, yp = _pairs(th)
                return loss(y, yp, s_y, s_yp, gy - gyp, reduction="none")

            got = _minimise(loss_of_theta, w).numpy()
            np.testing.assert_allclose(got, pick(outs[k]), atol=TOL, rtol=0)


def test_inpo_label_form_self_play():
    """INPO Prop. 6: with y, y' ~ π_t i.i.d. and the label target o(y≻y') − ½ (in expectation P[y, y'] − ½), the
    minimiser is still the INPO step."""
    rng = np.random.default_rng(7)
    P = torch.tensor(make_matrix("egpo", n=n, seed=7))
    l_ref = torch.log_softmax(torch.tensor(rng.normal(size=n)), -1)
    l_t = torch.log_softmax(torch.tensor(rng.normal(size=n)), -1)
    eta, beta = 0.5, 0.6
    s = make_solver("inpo", eta=eta, beta=beta)
    expected = s.step(s.init(l_ref, l_t), exact_feedback(P)).log_pi
    a, b = _pairs(l_t.exp())
    ry, ryp = _pairs(l_ref)
    ty, typ = _pairs(l_t)
    label = (P - 0.5).reshape(-1)

    def loss_of_theta(th):
        y, yp = _pairs(th)
        return s.loss(y, yp, {"ref": ry, "iterate": ty}, {"ref": ryp, "iterate": typ}, label, reduction="none")

    np.testing.assert_allclose(_minimise(loss_of_theta, a * b).numpy(), expected.numpy(), atol=TOL, rtol=0)


def test_sppo_pointwise():
    """SPPO's pointwise paper loss over free unnormalised logits, normalised afterwards, is the Hedge step."""
    rng = np.random.default_rng(8)
    P = torch.tensor(make_matrix("egpo", n=n, seed=8))
    l_t = torch.log_softmax(torch.tensor(rng.normal(size=n)), -1)
    rho = torch.softmax(torch.tensor(rng.normal(size=n)), -1)
    eta = 0.9
    s = make_solver("sppo", eta=eta)
    expected = s.step(s.init(l_t), exact_feedback(P)).log_pi
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
