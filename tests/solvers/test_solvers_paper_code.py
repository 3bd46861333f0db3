"""Where the papers' own code departs from the rules as nashlab states them (docs/algorithms.md §5): each test builds
the code's computation from its description, independently of the solver under comparison, and shows the
difference (or the translation) with numbers."""

import numpy as np
import torch

from nashlab.games import make_matrix, reg_duality_gap
from nashlab.solvers import exact_feedback, make_solver

n = 6


def inpo_step(l, l_ref, g, eta, beta):
    """INPO's step written from its paper: ``log_softmax((1−ηβ)ℓ + ηβ ℓ_ref + η g)``."""
    return torch.log_softmax((1 - eta * beta) * l + eta * beta * l_ref + eta * g, -1)


def mixture(l, l_ref, eta, beta):
    """Nash-MD's normalised geometric mixture ``π^{1−ηβ} π_ref^{ηβ}``."""
    return torch.log_softmax((1 - eta * beta) * l + eta * beta * l_ref, -1)


def _game(seed: int, size: int = n):
    rng = np.random.default_rng(seed)
    P = torch.tensor(make_matrix("egpo", n=size, seed=seed))
    l_ref = torch.log_softmax(torch.tensor(rng.normal(size=size)), -1)
    return P, l_ref, rng


def test_egpo_code_sgd_step_is_the_omd_step_with_eta_beta_4lr_over_n():
    """The EGPO simulations take one SGD step of size lr on tabular logits θ of the online-IPO loss
    ``mean_{y,y'}(Δθ − Δℓ_ref − Δg/β)²`` (y, y' uniform). That step is INPO's / EGPO's half step with ηβ = 4·lr/n."""
    P, l_ref, rng = _game(0)
    opp = torch.softmax(torch.tensor(rng.normal(size=n)), -1)
    g = P @ opp
    for beta, lr in [(0.1, 0.1), (0.01, 0.02), (0.5, 0.3)]:
        theta = torch.tensor(rng.normal(size=n), requires_grad=True)
        d = theta - l_ref - g / beta
        loss = ((d[:, None] - d[None, :]) ** 2).mean()
        (grad,) = torch.autograd.grad(loss, theta)
        sgd = torch.log_softmax(theta.detach() - lr * grad, -1)
        eta = 4 * lr / n / beta
        omd = inpo_step(torch.log_softmax(theta.detach(), -1), l_ref, g, eta, beta)
        np.testing.assert_allclose(sgd.numpy(), omd.numpy(), atol=1e-12, rtol=0)
        lib = make_solver("inpo", eta=eta, beta=beta)  # the library's rule, fed the same win rates
        ours = lib.step(lib.init(l_ref, torch.log_softmax(theta.detach(), -1)), lambda pi: g).log_pi
        np.testing.assert_allclose(sgd.numpy(), ours.numpy(), atol=1e-12, rtol=0)


def test_egpo_code_nash_md_baseline_mixes_with_half_its_step():
    """The EGPO simulations' Nash-MD mixes π_t with π_ref at exponent 2·lr/n while its SGD step is ηβ = 4·lr/n:
    ``ℓ' = (1−ηβ)ℓ + ηβ ℓ_ref + η P π^μ`` with ``π^μ ∝ π^{1−ηβ/2} π_ref^{ηβ/2}``. Nash-MD as written (and
    nashlab's ``nash-md``) mixes at ηβ. Both stall above π*_β; with the half mixture the opponent is closer to π_t,
    so the code's gap floor is lower (about a quarter: the bias in the logits is linear in the exponent)."""
    P, l_ref, _ = _game(3, size=10)
    beta, lr = 0.1, 0.1
    eta = 4 * lr / 10 / beta  # 0.4, the paper's β = 0.1 setting
    fb = exact_feedback(P)
    rule = make_solver("nash-md", eta=eta, beta=beta)
    state, code = rule.init(l_ref), l_ref.clone()
    for _ in range(3000):
        state = rule.step(state, fb)
        code = inpo_step(code, l_ref, P @ mixture(code, l_ref, eta / 2, beta).exp(), eta, beta)
    ours = state.log_pi
    floor_ours = float(reg_duality_gap(P, ours.exp(), l_ref.exp(), beta))
    floor_code = float(reg_duality_gap(P, code.exp(), l_ref.exp(), beta))
    assert 1e-6 < floor_code < floor_ours / 2, (floor_code, floor_ours)
    assert 2.5 < floor_ours / floor_code < 6, (floor_code, floor_ours)


def test_mnpo_practical_loss_sees_only_the_sampling_policy():
    """MNPO's practical loss (Eq. 15) fits labelled pairs drawn from π_t. With opponents π_1, π_2 different from π_t,
    its minimiser over free logits is ``mean_j ℓ_j + η Pπ_t``: π_t is the only preference opponent, and the
    opponents' average of Eq. 13 (``mean_j ℓ_j + η mean_j Pπ_j``, nashlab's ``mnpo`` step) is not reproduced."""
    P, l_ref, rng = _game(5)
    eta = 0.7
    l_t, l_1, l_2 = (torch.log_softmax(torch.tensor(rng.normal(size=n)), -1) for _ in range(3))
    opp = torch.stack([l_1, l_2], -1)  # [n, 2]: the two opponents' log-probs

    def pairs(v):
        return v[:, None].expand(n, n, *v.shape[1:]).reshape(n * n, *v.shape[1:]), \
            v[None, :].expand(n, n, *v.shape[1:]).reshape(n * n, *v.shape[1:])

    oy, oyp = pairs(opp)
    a, b = pairs(l_t.exp())
    w = a * b  # (y, y') ~ π_t × π_t
    label = (P - 0.5).reshape(-1)  # E[o(y ≻ y') − ½] for the pair (y, y')
    theta = torch.zeros(n, dtype=torch.float64, requires_grad=True)

    loss = make_solver("mnpo", eta=eta, num_players=3).loss  # the derived loss: anchor = mean of the opponents

    def total(th):
        y, yp = pairs(th)
        return (w * loss(y, yp, {"others": oy.mean(-1)}, {"others": oyp.mean(-1)}, label, reduction="none")).sum()

    grad = torch.autograd.grad(total(theta), theta, create_graph=True)[0]
    H = torch.stack([torch.autograd.grad(grad[i], theta, retain_graph=True)[0] for i in range(n)])
    got = torch.log_softmax(-(torch.linalg.pinv(H) @ grad.detach()), -1)  # one Newton step: the loss is quadratic

    only_pi_t = torch.log_softmax((l_1 + l_2) / 2 + eta * (P @ l_t.exp()), -1)
    np.testing.assert_allclose(got.numpy(), only_pi_t.numpy(), atol=1e-9, rtol=0)
    rule = make_solver("mnpo", eta=eta, num_players=3)
    theory = rule.step(rule.init(l_ref, torch.stack([l_t, l_1, l_2])), exact_feedback(P)).log_pi[0]
    assert float((got - theory).abs().max()) > 1e-2  # the opponents' average is lost
