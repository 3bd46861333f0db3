"""Exact and regularised Nash equilibria: property tests over every generator and independent reference solves.

Tolerances:
* ``DG_0 ≤ 1e-9`` for the LP equilibrium, ``DG_β ≤ 1e-10`` and ``KL ≤ 1e-10`` for π*_β (issue 2's bars);
* the fixed-point residual ``max|ℓ − ℓ_ref − Pπ/β − c|`` is at most ``FP_TOL / β``: the logits ``Pπ/β`` (up to 1/β
  in size) carry a rounding error ~1e-16/β per entry, amplified by the n-term sums (n ≤ 40 here), so 1e-12/β.
"""

from __future__ import annotations

import numpy as np
import pytest
from games_reference import brute_gap, kl, reg_nash_picard, reg_nash_root
from games_strategies import GENERATOR_PARAMS, describe, matrices, ref_policies
from hypothesis import example, given, note, settings
from hypothesis import strategies as st

from nashlab.games import (
    GENERATORS,
    PreferenceGame,
    duality_gap,
    exact_nash,
    make_matrix,
    reg_duality_gap,
    regularized_nash,
)

FP_TOL = 1e-12
BETAS = [1.0, 0.1, 0.01, 0.001]


def test_strategies_cover_every_generator():
    assert set(GENERATOR_PARAMS) == set(GENERATORS)


@settings(max_examples=60)
@given(P=matrices(min_n=1, max_n=40))
@example(P=make_matrix("cyclic", n=4))  # even tournament: a segment of equilibria
@example(P=np.array([[0.5]]))
def test_exact_nash_has_zero_gap(P):
    note(describe(P))
    pi = exact_nash(P)
    assert pi.shape == (P.shape[0],)
    assert np.all(pi >= 0) and abs(pi.sum() - 1) <= 1e-12
    assert duality_gap(P, pi) <= 1e-9
    # independent of metrics.py: no action wins against π with probability above ½
    assert (P @ pi).max() <= 0.5 + 5e-10


@settings(max_examples=40)
@given(P=matrices(min_n=1, max_n=40), beta=st.sampled_from(BETAS) | st.floats(1e-3, 10.0), data=st.data())
def test_regularized_nash_fixed_point_and_gap(P, beta, data):
    n = P.shape[0]
    ref = data.draw(ref_policies(n))
    note(describe(P))
    pi, log_pi = regularized_nash(P, pi_ref=ref, beta=beta, return_log=True)
    assert np.all(np.isfinite(log_pi)) and abs(pi.sum() - 1) <= 1e-12
    F = log_pi - np.log(ref) - P @ pi / beta
    assert np.abs(F - F.mean()).max() <= FP_TOL / beta
    assert reg_duality_gap(P, pi, ref, beta) <= 1e-10
    gap, violation = brute_gap(P, pi, ref, beta, samples=30)
    assert gap <= 1e-10 and violation <= 1e-12


@settings(max_examples=25)
@given(P=matrices(min_n=2, max_n=30), beta=st.sampled_from(BETAS), data=st.data())
def test_regularized_nash_agrees_with_hybr(P, beta, data):
    """Newton on logits (library) vs MINPACK hybr on π-space with halving continuation (tests/games/games_reference)."""
    ref = data.draw(ref_policies(P.shape[0]))
    note(describe(P))
    a = regularized_nash(P, pi_ref=ref, beta=beta)
    b = reg_nash_root(P, ref, beta)
    assert kl(b, a) <= 1e-10
    assert np.abs(a - b).max() <= 1e-6


@pytest.mark.parametrize("beta", BETAS)
def test_regularized_nash_n100_agrees_with_hybr(beta):
    P = make_matrix("egpo", n=100, seed=7)
    ref = np.full(100, 1 / 100)
    a = regularized_nash(P, beta=beta)
    b = reg_nash_root(P, ref, beta)
    assert kl(b, a) <= 1e-10
    assert reg_duality_gap(P, a, ref, beta) <= 1e-10


def test_regularized_nash_n1000_agrees_with_fixed_point_iteration():
    """n = 1,000, β = 0.1: the plain iteration π ← softmax(ℓ_ref + Pπ/β) contracts here, an independent answer."""
    n, beta = 1000, 0.1
    P = make_matrix("egpo", n=n, seed=3)
    ref = np.random.default_rng(0).dirichlet(np.ones(n)) * 0.5 + 0.5 / n  # full support, non-uniform
    a = regularized_nash(P, pi_ref=ref, beta=beta)
    b = reg_nash_picard(P, ref, beta)
    assert kl(b, a) <= 1e-10
    assert reg_duality_gap(P, a, ref, beta) <= 1e-10


@pytest.mark.parametrize("name,n", [(name, 1000 if name == "egpo" else 400) for name in sorted(GENERATORS)])
def test_regularized_nash_large_small_beta_every_generator(name, n):
    """β = 1e-3 (the issue's extreme) at n = 1,000 (egpo) / 400 (the others, to keep CI fast): fixed point and
    DG_β ≤ 1e-10 for every generator."""
    beta = 1e-3
    P = make_matrix(name, n=n)
    pi, log_pi = regularized_nash(P, beta=beta, return_log=True)
    F = log_pi + np.log(n) - P @ pi / beta
    assert np.abs(F - F.mean()).max() <= 1e-9  # measured ≤ 3e-12 at n = 1,000; 1e-9 bounds KL(π*‖π) ≲ 1e-18
    ref = np.full(n, 1 / n)
    assert reg_duality_gap(P, pi, ref, beta) <= 1e-10


@pytest.mark.parametrize("seed", range(3))
def test_exact_nash_near_degenerate_rank2_game(seed):
    """σ(a bᵀ − b aᵀ), a "disc game": HiGHS's first attempt ends with status "unknown" on some seeds (seed 1); the
    fallback methods still reach DG_0 ≤ 1e-9 at n = 120 (see exact_nash's docstring for larger n)."""
    ab = np.random.default_rng(seed).normal(size=(120, 2))
    S = ab[:, :1] @ ab[:, 1:].T - ab[:, 1:] @ ab[:, :1].T
    P = 1.0 / (1.0 + np.exp(-S))
    pi = exact_nash(P)
    assert (P @ pi).max() <= 0.5 + 5e-10


def test_batched_equals_looped():
    P = np.stack([make_matrix("egpo", n=6, seed=s) for s in range(4)]).reshape(2, 2, 6, 6)
    ref = np.random.default_rng(1).dirichlet(np.ones(6), size=(2, 2))
    e = exact_nash(P)
    r = regularized_nash(P, pi_ref=ref, beta=0.05)
    for i in range(2):
        for j in range(2):
            np.testing.assert_allclose(e[i, j], exact_nash(P[i, j]), atol=1e-12)
            np.testing.assert_allclose(r[i, j], regularized_nash(P[i, j], pi_ref=ref[i, j], beta=0.05), atol=1e-12)


def test_game_object_defaults():
    g = PreferenceGame(make_matrix("skew", n=5), pi_ref=np.array([0.1, 0.2, 0.3, 0.2, 0.2]), beta=0.2)
    np.testing.assert_allclose(regularized_nash(g), regularized_nash(g.P, pi_ref=g.pi_ref, beta=0.2), atol=0)
    with pytest.raises(ValueError, match="beta > 0"):
        regularized_nash(g.with_beta(0.0))
    with pytest.raises(ValueError, match="beta ≥ 1e-08"):
        regularized_nash(g, beta=1e-9)
    with pytest.raises(ValueError, match="beta must be a finite number"):
        regularized_nash(g, beta=float("nan"))


def test_small_beta_limit_approaches_exact_nash():
    """π*_β → a Nash equilibrium as β → 0 (unique for this generic game): DG_0(π*_β) shrinks with β."""
    P = make_matrix("egpo", n=8, seed=5)
    gaps = [duality_gap(P, regularized_nash(P, beta=b)) for b in (1e-1, 1e-2, 1e-3, 1e-4)]
    assert all(g1 > g2 for g1, g2 in zip(gaps, gaps[1:]))
    assert np.abs(regularized_nash(P, beta=1e-5) - exact_nash(P)).max() <= 1e-3


@pytest.mark.parametrize("seed", [2, 5, 8])
def test_exact_nash_refines_degenerate_rank2_games_at_n300(seed):
    """Disc games at n = 300 where HiGHS ends with gap 1.4e-7 (seed 2) or no point at all (seeds 5, 8, status 4):
    the rescaled correction LPs (``_refine_lp``) bring DG_0 below 1e-9 (measured ≤ 3e-12)."""
    ab = np.random.default_rng(seed).normal(size=(300, 2))
    S = ab[:, :1] @ ab[:, 1:].T - ab[:, 1:] @ ab[:, :1].T
    P = 1.0 / (1.0 + np.exp(-S))
    pi = exact_nash(P)
    assert pi.min() >= 0 and abs(pi.sum() - 1) <= 1e-12
    assert 2 * (P @ pi).max() - 1 <= 1e-9
