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
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="num_comparisons must be an integer ≥ 1"):
            oracle.win_rates(pi, bad)
    # a deterministic game gives exact answers: P ∈ {0, ½, 1} and π a point mass
    rps = PreferenceOracle(make_matrix("cyclic", n=3), seed=0)
    out = rps.win_rates(torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), 7)
    torch.testing.assert_close(out[[0, 2]], torch.tensor([1.0, 0.0], dtype=torch.float64))


def test_oracle_refuses_bad_input():
    with pytest.raises(ValueError, match="P \\+ Pᵀ must equal 1"):
        PreferenceOracle(np.ones((2, 2)))
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        PreferenceOracle(make_matrix("cyclic"), seed=-1)
    from nashlab.games import PreferenceGame

    assert PreferenceOracle(PreferenceGame(make_matrix("cyclic")), seed=0).n == 3
