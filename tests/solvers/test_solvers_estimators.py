"""The win-rate-difference estimators (:mod:`nashlab.solvers.estimators`): each one's mean and variance measured by
Monte Carlo against the exact ``g = Pπ`` and the variance derived in its docstring, on an EGPO game, on the
LLM demo's rock-paper-scissors-plus-"other" game, and (for the tree) on a game whose actions are leaves of a prefix
tree.

Every check conditions on the pair ``(y, y')`` (the target a pairwise loss sees for that pair) for every pair at
once, and allows 5 standard errors of the Monte-Carlo mean or variance (the SE of a sample variance is
``√((m₄ − s⁴)/R)``): a false failure has probability below ~3e-7 per check under the normal approximation, and the
seeds are fixed, so a pass or a failure reproduces.

``pytest -s`` prints the variance table (each estimator's pair-averaged conditional variance relative to hard labels
with i.i.d. opponents, at the same ``2M`` judgements per target).
"""

import numpy as np
import pytest
import torch

from nashlab.games import make_matrix
from nashlab.solvers.estimators import (importance_weighted_win_rate, iid_difference, loo_differences, loo_win_rates,
                                        shared_difference, tree_difference)

R = 4000  # Monte-Carlo repetitions per pair
M = 8  # opponents per response
Z = 5.0  # standard errors allowed


def rps_other() -> np.ndarray:
    """The LLM demo's game: rock, paper, scissors and a dominated "other" (loses to every move, ties itself)."""
    P = np.full((4, 4), 0.5)
    P[:3, :3] = [[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]]
    P[:3, 3], P[3, :3] = 1.0, 0.0
    return P


def tree_game(seed: int = 0) -> np.ndarray:
    """8 actions = 4 prefixes × 2 last tokens: a skew game between prefixes plus a small sibling-specific part."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(4, 4))
    A = A - A.T
    E = 0.15 * rng.normal(size=(8, 8))
    E = E - E.T
    S = np.kron(A, np.ones((2, 2))) + E
    return 1.0 / (1.0 + np.exp(-S))  # P + Pᵀ = 1


GAMES = {
    "egpo": (lambda: make_matrix("egpo", n=10, seed=3), None),
    "rps+other": (rps_other, np.array([0.3, 0.25, 0.25, 0.2])),
    "rps+other untrained": (rps_other, np.array([0.078, 0.0013, 0.013, 0.9077])),
    "tree": (tree_game, None),
}


def setup(name):
    make, pi = GAMES[name]
    P = torch.tensor(make(), dtype=torch.float64)
    n = P.shape[-1]
    if pi is None:
        pi = np.random.default_rng(7).dirichlet(np.ones(n) * 2.0)
    return P, torch.tensor(pi, dtype=torch.float64)


def judge(P, y, z, labels, gen):
    p = P[y, z]
    return p if labels == "soft" else torch.bernoulli(p, generator=gen)


def draw(pi, shape, gen):
    return torch.multinomial(pi, int(np.prod(shape)), replacement=True, generator=gen).reshape(shape)


def pairs(n):
    y = torch.arange(n).repeat_interleave(n)
    yp = torch.arange(n).repeat(n)
    keep = y != yp
    return y[keep], yp[keep]


def u(P, labels):
    return P * (1 - P) if labels == "hard" else torch.zeros_like(P)


def exact_var_iid(P, pi, y, yp, labels, m):
    v = (pi * (u(P, labels) + P ** 2)).sum(-1) - (P @ pi) ** 2  # one-comparison variance of each action
    return (v[y] + v[yp]) / m


def exact_var_shared(P, pi, y, yp, labels, m, w=None, pi_z=None):
    """Shared opponents z ~ pi_z (default pi), importance weights w(z) (default 1): target mean_m w(z)(J_y − J_y')."""
    pi_z = pi if pi_z is None else pi_z
    w = torch.ones_like(pi) if w is None else w
    d = P[y] - P[yp]  # [pairs, n]
    second = (pi_z * w ** 2 * (u(P, labels)[y] + u(P, labels)[yp] + d ** 2)).sum(-1)
    mean = (pi_z * w * d).sum(-1)
    return (second - mean ** 2) / m


def check(samples, exact_mean, exact_var):
    """5-SE checks of a [pairs, R] Monte-Carlo sample's mean and variance; returns the measured variance."""
    mean = samples.mean(-1)
    var = samples.var(-1)
    se_mean = (var / samples.shape[-1]).sqrt()
    centred = samples - mean.unsqueeze(-1)
    se_var = (((centred ** 4).mean(-1) - var ** 2).clamp_min(0) / samples.shape[-1]).sqrt()
    assert torch.all((mean - exact_mean).abs() <= Z * se_mean + 1e-12), (mean - exact_mean).abs().max()
    assert torch.all((var - exact_var).abs() <= Z * se_var + 1e-12), ((var - exact_var).abs() / se_var).max()
    return var


def weighted(var, pi, y, yp):
    w = pi[y] * pi[yp]
    return float((w * var).sum() / w.sum())


def measure(name, labels, seed=0):
    """Measured and checked pair-averaged conditional variances of every estimator on game ``name``."""
    gen = torch.Generator().manual_seed(seed)
    P, pi = setup(name)
    n = P.shape[-1]
    y, yp = pairs(n)
    B = y.shape[0]
    g = P @ pi
    true = (g[y] - g[yp]).unsqueeze(-1)
    Y, YP = y[:, None, None].expand(B, R, M), yp[:, None, None].expand(B, R, M)
    out = {}

    z1, z2 = draw(pi, (B, R, M), gen), draw(pi, (B, R, M), gen)
    t = iid_difference(judge(P, Y, z1, labels, gen), judge(P, YP, z2, labels, gen))
    out["iid"] = weighted(check(t, true.squeeze(-1), exact_var_iid(P, pi, y, yp, labels, M)), pi, y, yp)

    t = shared_difference(judge(P, Y, z1, labels, gen), judge(P, YP, z1, labels, gen))
    out["shared"] = weighted(check(t, true.squeeze(-1), exact_var_shared(P, pi, y, yp, labels, M)), pi, y, yp)

    # leave-two-out from K = M + 2 samples judged all-against-all by a consistent judge (J_ki = 1 − J_ik): the pair is
    # samples 0 and 1; its target uses the M others, i.e. 2M judgements, like the i.i.d. target.
    K = M + 2
    ys = torch.cat([y[:, None, None].expand(B, R, 1), yp[:, None, None].expand(B, R, 1), draw(pi, (B, R, M), gen)], -1)
    Jfull = judge(P, ys.unsqueeze(-1).expand(B, R, K, K), ys.unsqueeze(-2).expand(B, R, K, K), labels, gen)
    upper = torch.triu(torch.ones(K, K, dtype=torch.bool), 1)
    J = torch.where(upper, Jfull, 1.0 - Jfull.transpose(-1, -2))
    t = loo_differences(J)[..., 0, 1]
    out["loo"] = weighted(check(t, true.squeeze(-1), exact_var_shared(P, pi, y, yp, labels, M)), pi, y, yp)
    # the leave-one-out win rate of sample 0: its K − 2 random opponents are draws of π, sample 1 is the fixed y'
    # (hence the pair's own comparison in the mean: why loo_differences leaves it out)
    ghat = loo_win_rates(J)[..., 0]
    v = (pi * (u(P, labels) + P ** 2)).sum(-1) - g ** 2
    check(ghat, (P[y, yp] + (K - 2) * g[y]) / (K - 1), (u(P, labels)[y, yp] + (K - 2) * v[y]) / (K - 1) ** 2)

    # reuse: opponents from π_old, weights π/π_old, with π one Hedge step (η = 0.5) away from π_old
    pi_old = pi
    pi_new = torch.softmax(pi_old.log() + 0.5 * (g - 0.5), -1)
    zo = draw(pi_old, (B, R, M), gen)
    lw = pi_new.log()[zo] - pi_old.log()[zo]
    ty = importance_weighted_win_rate(judge(P, Y, zo, labels, gen), pi_new.log()[zo], pi_old.log()[zo])
    typ = importance_weighted_win_rate(judge(P, YP, zo, labels, gen), lw, torch.zeros_like(lw))
    g_new = P @ pi_new
    ev = exact_var_shared(P, pi_new, y, yp, labels, M, w=pi_new / pi_old, pi_z=pi_old)
    var = check(ty - typ, g_new[y] - g_new[yp], ev)
    out["reuse"] = weighted(var, pi, y, yp)
    return out


@pytest.mark.parametrize("name", ["egpo", "rps+other", "rps+other untrained"])
def test_estimators_unbiased_with_derived_variance(name):
    """Every estimator's mean is the exact ``g(y) − g(y')`` and its variance the docstring's, pair by pair, for hard
    and soft labels; soft labels never have more variance than hard ones (pair-averaged, 5 % Monte-Carlo slack)."""
    hard, soft = measure(name, "hard"), measure(name, "soft")
    for k in hard:
        assert soft[k] <= hard[k] * 1.05, (k, soft[k], hard[k])


def test_tree_siblings_beat_iid_pairs_at_equal_queries():
    """On a game whose actions are leaves of a prefix tree, sibling pairs judged against shared opponents
    (:func:`tree_difference`) have a smaller target variance than i.i.d. pairs with their own opponents, at the same
    ``2M`` judge queries per target: the derived variance, measured. The gain is the opponents' part (``Var_z``);
    the verdicts' Bernoulli part stays, so hard labels gain less (measured 0.80 hard, 0.04 soft)."""
    gen = torch.Generator().manual_seed(1)
    P, pi = setup("tree")
    g = P @ pi
    for labels in ("hard", "soft"):
        sib_y, sib_yp = torch.arange(0, 8, 2), torch.arange(1, 8, 2)
        B = sib_y.shape[0]
        z = draw(pi, (B, R, M), gen)
        Y, YP = sib_y[:, None, None].expand(B, R, M), sib_yp[:, None, None].expand(B, R, M)
        t = tree_difference(judge(P, Y, z, labels, gen), judge(P, YP, z, labels, gen))
        var_tree = check(t, g[sib_y] - g[sib_yp], exact_var_shared(P, pi, sib_y, sib_yp, labels, M))
        w = pi[sib_y] * pi[sib_yp]
        tree = float((w * var_tree).sum() / w.sum())
        # i.i.d. pairs: y, y' independent draws of π, each against its own M opponents
        y, yp = pairs(8)
        iid = weighted(exact_var_iid(P, pi, y, yp, labels, M), pi, y, yp)
        print(f"tree game, {labels} labels: sibling/shared {tree:.3e} vs i.i.d. pairs {iid:.3e} "
              f"(ratio {tree / iid:.3f})")
        # hard labels keep each verdict's Bernoulli noise E[u(y) + u(y')], which no pairing removes
        assert tree < (0.9 if labels == "hard" else 0.5) * iid


def test_loo_differences_formula():
    """``D_ij = (1/(K−2)) Σ_{k≠i,j} (J_ik − J_jk)`` against a direct loop; K < 3 is refused."""
    J = torch.rand(2, 5, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    D = loo_differences(J)
    for i in range(5):
        for j in range(5):
            if i != j:
                ks = [k for k in range(5) if k not in (i, j)]
                assert torch.allclose(D[:, i, j], sum(J[:, i, k] - J[:, j, k] for k in ks) / 3)
    assert torch.allclose(loo_win_rates(J), (J.sum(-1) - J.diagonal(dim1=-2, dim2=-1)) / 4)
    with pytest.raises(ValueError, match="K ≥ 3"):
        loo_differences(J[:, :2, :2])


@pytest.mark.slow
def test_variance_table(capsys):
    """Prints the table of the report (pair-averaged conditional variance relative to hard labels with i.i.d.
    opponents); the ordering soft ≤ hard is asserted in the test above."""
    rows = []
    for name in ("egpo", "rps+other", "rps+other untrained"):
        base = None
        for labels in ("hard", "soft"):
            out = measure(name, labels, seed=11)
            base = base or out["iid"]
            rows.append((name, labels, {k: v / base for k, v in out.items()}))
    with capsys.disabled():
        print("\nvariance of the target relative to hard labels with i.i.d. opponents, 2M judgements per target "
              f"(M = {M}); loo's judgements serve every pair of its K = M + 2 samples: K(K−1)/2 queries for "
              "K(K−1)/2 targets, 1 query per target against 2M")
        print("game                  labels  " + "  ".join(f"{k:>7}" for k in rows[0][2]))
        for name, labels, r in rows:
            print(f"{name:<21} {labels:<6}  " + "  ".join(f"{v:7.3f}" for v in r.values()))
    assert rows[0][2]["iid"] == pytest.approx(1.0)
