"""exact_nash against other implementations: nashpy (support enumeration, Lemke–Howson) and OpenSpiel (its cvxpy
LP solver for zero-sum matrix games, and nash_conv of our policy on the converted game).

Generic games (egpo, skew, embedding, hodge with a mixed knob) have a unique equilibrium, so policies are compared;
the value (½ for P, 0 for P − ½) and the gap are compared on every game.
"""

from __future__ import annotations

import warnings

import nashpy
import numpy as np
import pyspiel
import pytest
from games_strategies import describe, matrices
from hypothesis import given, note, settings
from hypothesis import strategies as st
from open_spiel.python import policy as policy_lib
from open_spiel.python.algorithms import exploitability, lp_solver

from nashlab.games import duality_gap, exact_nash, make_matrix, regularized_nash, to_pyspiel

GENERIC = ["egpo", "skew", "embedding"]


def _nashpy_equilibria(P, method):
    game = nashpy.Game(P - 0.5)  # zero-sum: the column player's payoff is −(P − ½) = Pᵀ − ½
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nashpy warns on degenerate games
        if method == "support":
            return list(game.support_enumeration())
        return [game.lemke_howson(initial_dropped_label=0)]


@settings(max_examples=15)
@given(P=matrices(min_n=2, max_n=6, names=GENERIC))
def test_agrees_with_nashpy_support_enumeration(P):
    note(describe(P))
    ours = exact_nash(P)
    eqs = _nashpy_equilibria(P, "support")
    assert len(eqs) == 1  # generic: unique
    row, col = eqs[0]
    np.testing.assert_allclose(row, ours, atol=1e-8)
    np.testing.assert_allclose(col, ours, atol=1e-8)  # symmetric game: both players play the same lottery
    assert abs(float(row @ (P - 0.5) @ col)) <= 1e-10  # value 0 of P − ½, i.e. ½ of P
    assert duality_gap(P, row) <= 1e-9


@settings(max_examples=15)
@given(P=matrices(min_n=2, max_n=8, names=GENERIC))
def test_agrees_with_nashpy_lemke_howson(P):
    note(describe(P))
    (row, col), = _nashpy_equilibria(P, "lemke")
    assert np.all(np.isfinite(row)) and abs(row.sum() - 1) <= 1e-9
    np.testing.assert_allclose(row, exact_nash(P), atol=1e-8)


@pytest.mark.parametrize("name,n,seed", [(g, n, s) for g in GENERIC + ["hodge", "annotators"] for n in (3, 7, 15)
                                         for s in (0, 1)])
def test_agrees_with_openspiel_lp(name, n, seed):
    P = make_matrix(name, n=n, seed=seed)
    zero_sum = pyspiel.create_matrix_game((P - 0.5).tolist(), (0.5 - P).tolist())
    p0, p1, v0, v1 = lp_solver.solve_zero_sum_matrix_game(zero_sum)
    p0 = np.clip(np.asarray(p0, dtype=float), 0, None)
    p0 /= p0.sum()
    assert abs(v0) <= 1e-7 and abs(v1) <= 1e-7  # value 0 of P − ½ (cvxpy/ECOS works to ~1e-9)
    ours = exact_nash(P)
    assert duality_gap(P, p0) <= 1e-7
    if name in GENERIC:  # unique equilibrium
        np.testing.assert_allclose(p0, ours, atol=1e-6)


@settings(max_examples=20)
@given(P=matrices(min_n=1, max_n=10), data=st.data())
def test_nash_conv_equals_duality_gap(P, data):
    """OpenSpiel's nash_conv of the profile (π, π) on our converted game equals DG_0(π); zero at exact_nash."""
    n = P.shape[0]
    game = pyspiel.convert_to_turn_based(to_pyspiel(P))
    pol = policy_lib.TabularPolicy(game)
    seed = data.draw(st.integers(0, 1000))
    for pi in (np.random.default_rng(seed).dirichlet(np.ones(n)), exact_nash(P), regularized_nash(P, beta=0.1)):
        pol.action_probability_array[:] = pi  # both players (rows) play π
        assert abs(exploitability.nash_conv(game, pol) - duality_gap(P, pi)) <= 1e-12
    pol.action_probability_array[:] = exact_nash(P)
    assert exploitability.nash_conv(game, pol) <= 1e-9
