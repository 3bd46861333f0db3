"""PreferenceOracle: seeded, unbiased (within a CLT bound), counting every comparison."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nashlab.games import PreferenceOracle, make_matrix

#: z-score for the unbiasedness checks: with ~20 estimates per test, P(|Z| > 5) ≈ 6e-7 each, and the draws are seeded,
#: so a failure means bias, not bad luck.
Z = 5.0


def test_seeded_reproducibility():
    P = make_matrix("egpo", n=5, seed=0)
    pi = torch.tensor(np.random.default_rng(0).dirichlet(np.ones(5)))
    a = PreferenceOracle(P, seed=3).win_rates(pi, 50)
    b = PreferenceOracle(P, seed=3).win_rates(pi, 50)
    c = PreferenceOracle(P, seed=4).win_rates(pi, 50)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)


def test_win_rates_unbiased_and_counted():
    P = make_matrix("skew", n=6, seed=1)
    pi = np.random.default_rng(1).dirichlet(np.ones(6))
    oracle = PreferenceOracle(P, seed=0)
    M, reps = 400, 50
    est = torch.stack([oracle.win_rates(torch.tensor(pi), M) for _ in range(reps)]).mean(0).numpy()
    g = P @ pi
    # each ĝ_y averages M·reps Bernoulli(p) draws with p = P[y, y'], y' ~ π: variance g(1 − g)/(M·reps)
    sd = np.sqrt(g * (1 - g) / (M * reps))
    assert np.all(np.abs(est - g) <= Z * sd + 1e-12)
    assert oracle.queries == reps * 6 * M  # n·M per call


def test_compare_unbiased_and_counted():
    P = torch.tensor(make_matrix("egpo", n=4, seed=2))
    oracle = PreferenceOracle(P, seed=1)
    y = torch.tensor([0, 1, 2, 3, 0]).repeat(20000)
    yp = torch.tensor([1, 2, 3, 0, 0]).repeat(20000)
    out = oracle.compare(y, yp)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    mean = out.reshape(20000, 5).mean(0)
    p = P[y[:5], yp[:5]]
    sd = torch.sqrt(p * (1 - p) / 20000)
    assert torch.all((mean - p).abs() <= Z * sd + 1e-12)
    assert mean[-1].item() == pytest.approx(0.5, abs=Z * 0.5 / np.sqrt(20000))  # self-comparison: a fair coin
    assert oracle.queries == 100000


def test_batched_oracle_and_errors():
    P = np.stack([make_matrix("egpo", n=3, seed=s) for s in range(2)])
    oracle = PreferenceOracle(P, seed=0)
    pi = torch.full((2, 3), 1 / 3, dtype=torch.float64)
    est = oracle.win_rates(pi, 10)
    assert est.shape == (2, 3) and torch.all((est >= 0) & (est <= 1))
    for bad in (0, -1, 2.5, 2**53 + 1):
        with pytest.raises(ValueError, match=r"num_comparisons must be an integer in \[1, 2\*\*53\]"):
            oracle.win_rates(pi, bad)
    # a deterministic game gives exact answers: P ∈ {0, ½, 1} and π a point mass
    rps = PreferenceOracle(make_matrix("cyclic", n=3), seed=0)
    out = rps.win_rates(torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), 7)
    torch.testing.assert_close(out[[0, 2]], torch.tensor([1.0, 0.0], dtype=torch.float64))


def test_oracle_refuses_bad_input():
    with pytest.raises(ValueError, match="P \\+ Pᵀ must equal 1"):
        PreferenceOracle(np.ones((2, 2)))
    for bad in (-1, 2**63, 99999999999999999999, 1.0, True):
        with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*63\)"):
            PreferenceOracle(make_matrix("cyclic"), seed=bad)
    from nashlab.games import PreferenceGame

    assert PreferenceOracle(PreferenceGame(make_matrix("cyclic")), seed=0).n == 3


def test_win_counts_match_the_two_stage_draw():
    """M·ĝ_y, drawn as one Binomial(M, (Pπ)_y), has the distribution of the explicit two-stage draw (M opponents
    y' ~ π, then M Bernoulli(P[y, y']) outcomes), checked by frequencies of every count 0..M."""
    from scipy.stats import binom

    P = make_matrix("egpo", n=3, seed=5)
    pi = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    M, reps = 3, 20000
    counts = PreferenceOracle(P, seed=1).win_rates(pi.expand(reps, 3), M) * M  # reps independent calls at once
    gen = torch.Generator().manual_seed(7)
    Pt = torch.tensor(P)
    opp = torch.multinomial(pi.expand(reps * 3, 3), M, replacement=True, generator=gen).reshape(reps, 3, M)
    two_stage = torch.bernoulli(torch.gather(Pt.expand(reps, 3, 3), -1, opp), generator=gen).sum(-1)
    g = P @ pi.numpy()
    for y in range(3):
        pmf = binom.pmf(np.arange(M + 1), M, g[y])
        sd = np.sqrt(pmf * (1 - pmf) / reps)
        for draws in (counts[:, y], two_stage[:, y]):
            freq = np.array([(draws.round() == k).double().mean().item() for k in range(M + 1)])
            assert np.all(np.abs(freq - pmf) <= Z * sd + 1e-12), (y, freq, pmf)


def test_huge_comparison_counts_are_cheap_and_exact_in_the_limit():
    P = make_matrix("egpo", n=4, seed=1)
    pi = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    oracle = PreferenceOracle(P, seed=0)
    est = oracle.win_rates(pi, 10**10)
    # standard deviation ≤ 1/(2·sqrt(1e10)) = 5e-6
    np.testing.assert_allclose(est.numpy(), P @ pi.numpy(), atol=Z * 5e-6)
    assert oracle.queries == 4 * 10**10


@pytest.mark.parametrize("direct", [True, False])
def test_soft_win_rates_mean_and_variance(direct, monkeypatch):
    """Soft labels: ``ĝ_y = (1/M) Σ_m P[y, z_m]`` has mean ``(Pπ)_y`` and variance ``Var_{z~π}(P[y, z])/M``, both
    through the direct draws and through per-action opponent counts (5 standard errors)."""

    from nashlab.games import oracle as oracle_mod

    if not direct:
        monkeypatch.setattr(oracle_mod, "DIRECT_DRAWS", 0)
    S, M = 40_000, 3
    P = torch.tensor(make_matrix("egpo", n=4, seed=2))
    pi = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    o = oracle_mod.PreferenceOracle(P.expand(S, 4, 4).contiguous(), seed=1)
    est = o.win_rates(pi.expand(S, 4), M, labels="soft")
    g = P @ pi
    var = ((P ** 2) @ pi - g ** 2) / M
    assert o.queries == 4 * M
    assert torch.all((est.mean(0) - g).abs() <= 5 * (var / S).sqrt())
    c = est - est.mean(0)
    se_var = (((c ** 4).mean(0) - est.var(0) ** 2) / S).sqrt()
    assert torch.all((est.var(0) - var).abs() <= 5 * se_var), (est.var(0), var)
    assert torch.all((est >= 0) & (est <= 1))
