"""Metrics: non-negative everywhere, zero at the equilibrium, and equal to a brute-force computation from J_β.

The brute force (tests/games/games_reference.py) evaluates ``J_β(π₁, π₂) = π₁ᵀPπ₂ − β KL(π₁‖π_ref) + β KL(π₂‖π_ref)``
from its definition at explicit best responses (Gibbs for β > 0, pure for β = 0) and checks that no pure action and
no sampled mixed policy does better — it never uses metrics.py's log-sum-exp closed forms.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from games_reference import brute_gap, kl as kl_ref, multiplayer_gap_brute
from games_strategies import describe, matrices, policies, ref_policies
from hypothesis import given, note, settings
from hypothesis import strategies as st

from nashlab.games import (
    best_response_value,
    duality_gap,
    exact_nash,
    kl,
    kl_to_nash,
    make_matrix,
    multiplayer_duality_gap,
    reg_duality_gap,
    regularized_nash,
    win_rates,
)

BETAS = st.sampled_from([0.0, 1.0, 0.1, 0.01, 0.001]) | st.floats(1e-3, 5.0)
#: Closed form vs brute force: both sum O(n) terms of size O(1) (or O(β·log) for KL) in float64.
AGREE_TOL = 1e-10


@settings(max_examples=60)
@given(P=matrices(min_n=1, max_n=15), beta=BETAS, data=st.data())
def test_gaps_equal_brute_force_and_are_nonnegative(P, beta, data):
    n = P.shape[0]
    ref = data.draw(ref_policies(n))
    pi = data.draw(policies(n))
    note(describe(P))
    gap, violation = brute_gap(P, pi, ref, beta, samples=60)
    closed = reg_duality_gap(P, pi, ref, beta)
    assert closed >= 0
    assert abs(closed - max(gap, 0.0)) <= AGREE_TOL
    assert violation <= 1e-12  # the explicit best responses beat every pure / sampled mixed response
    if beta == 0:
        assert abs(duality_gap(P, pi) - closed) <= 1e-15
    assert kl(ref, pi) >= 0 and kl_to_nash(ref, pi) == kl(ref, pi)


@settings(max_examples=40)
@given(P=matrices(min_n=1, max_n=15), beta=st.sampled_from([0.0, 1.0, 0.1, 0.01]), data=st.data())
def test_metrics_zero_at_equilibrium(P, beta, data):
    n = P.shape[0]
    ref = data.draw(ref_policies(n))
    note(describe(P))
    star = exact_nash(P) if beta == 0 else regularized_nash(P, pi_ref=ref, beta=beta)
    assert reg_duality_gap(P, star, ref, beta) <= 1e-10
    assert kl_to_nash(star, star) == 0.0
    N = data.draw(st.integers(2, 4))
    assert multiplayer_duality_gap(P, np.stack([star] * N), ref, beta) <= 1e-10
    # and positive away from it, for a generic perturbation of an interior equilibrium
    if beta > 0 and n > 1:
        other = data.draw(policies(n, full_support=True))
        if kl_ref(star, other) > 1e-6:
            assert reg_duality_gap(P, other, ref, beta) > 0


@settings(max_examples=40)
@given(P=matrices(min_n=1, max_n=10), beta=st.sampled_from([0.0, 0.5, 0.05]), N=st.integers(2, 4), data=st.data())
def test_multiplayer_gap_equals_brute_force(P, beta, N, data):
    n = P.shape[0]
    ref = data.draw(ref_policies(n))
    pis = np.stack([data.draw(policies(n, full_support=beta > 0)) for _ in range(N)])
    note(describe(P))
    got = multiplayer_duality_gap(P, pis, ref, beta)
    assert got >= 0
    assert abs(got - max(multiplayer_gap_brute(P, pis, ref, beta), 0.0)) <= AGREE_TOL


@settings(max_examples=30)
@given(P=matrices(min_n=1, max_n=10), beta=st.sampled_from([0.0, 0.5, 0.05]), data=st.data())
def test_two_identical_players_gap_is_half_dg(P, beta, data):
    n = P.shape[0]
    ref = data.draw(ref_policies(n))
    pi = data.draw(policies(n, full_support=beta > 0))
    two = multiplayer_duality_gap(P, np.stack([pi, pi]), ref, beta)
    assert abs(two - reg_duality_gap(P, pi, ref, beta) / 2) <= 1e-12


def test_known_values():
    # cyclic:n=3 is RPS with action i beating i+1 (mod 3): against pure action 0, action 2 wins surely, so
    # max_y (Pπ)_y = 1 and DG_0 = 2·1 − 1 = 1.
    P = make_matrix("cyclic", n=3)
    assert duality_gap(P, np.array([1.0, 0, 0])) == 1.0
    assert duality_gap(P, np.full(3, 1 / 3)) == pytest.approx(0.0, abs=1e-15)
    # β log Σ π_ref exp(g/β) with g = (½, ½, ½) is ½ for any β.
    assert best_response_value(P, np.full(3, 1 / 3), np.full(3, 1 / 3), 0.3) == pytest.approx(0.5, abs=1e-15)
    np.testing.assert_allclose(win_rates(P, np.array([0, 1.0, 0])), [1.0, 0.5, 0.0])  # 0 beats 1; 2 loses to 1


def test_batched_and_torch_match_numpy_loop():
    P = np.stack([make_matrix("skew", n=5, seed=s) for s in range(3)])
    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(5), size=3)
    ref = rng.dirichlet(np.ones(5), size=3)
    batched = reg_duality_gap(P, pi, ref, 0.2)
    looped = [reg_duality_gap(P[i], pi[i], ref[i], 0.2) for i in range(3)]
    np.testing.assert_allclose(batched, looped, atol=1e-15)
    t = reg_duality_gap(torch.tensor(P), torch.tensor(pi), torch.tensor(ref), 0.2)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    np.testing.assert_allclose(t.numpy(), batched, atol=1e-15)
    mp = multiplayer_duality_gap(P, np.stack([pi, ref], axis=-2), None, 0.0)
    assert mp.shape == (3,)
    with pytest.raises(ValueError, match="at least 2 players"):
        multiplayer_duality_gap(P[0], pi[:1], None, 0.0)
