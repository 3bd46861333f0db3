"""OpenSpiel interop: to_pyspiel / from_pyspiel round trip, registered games, refusals."""

from __future__ import annotations

import numpy as np
import pyspiel
import pytest
from games_strategies import matrices
from hypothesis import given, settings

from nashlab.games import PreferenceGame, exact_nash, from_pyspiel, make_matrix, to_pyspiel
from nashlab.games.openspiel_interop import loadable_openspiel_games


@settings(max_examples=20)
@given(P=matrices(min_n=1, max_n=8))
def test_round_trip_is_identity(P):
    g = to_pyspiel(P)
    assert isinstance(g, pyspiel.MatrixGame)
    R, C = np.array(g.row_utilities()), np.array(g.col_utilities())
    np.testing.assert_array_equal(R, P)
    np.testing.assert_array_equal(C, P.T)  # the column player wins with probability P[j, i]
    np.testing.assert_allclose(R + C, 1.0, atol=1e-15)  # constant sum 1
    np.testing.assert_allclose(from_pyspiel(g).P, P, atol=1e-15)


def test_registered_games_load():
    assert {"matrix_rps", "matrix_rpsw"} <= set(loadable_openspiel_games())
    rps = from_pyspiel("matrix_rps")
    np.testing.assert_array_equal(rps.P, [[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]])
    np.testing.assert_allclose(exact_nash(rps.P), np.full(3, 1 / 3), atol=1e-12)
    rpsw = from_pyspiel(pyspiel.load_game("matrix_rpsw"))
    assert rpsw.n == 4 and rpsw.name == "openspiel:matrix_rpsw"
    np.testing.assert_array_equal(rpsw.P[3], 0.5)  # water ties everything
    assert (rpsw.P @ exact_nash(rpsw.P)).max() <= 0.5 + 1e-12


def test_affine_map():
    """P = ½ + (R − c/2)/(2 max|R − c/2|) for a symmetric constant-sum game with sum c."""
    R = np.array([[1.0, 4.0, -2.0], [-2.0, 1.0, 3.0], [4.0, -1.0, 1.0]])  # R + Rᵀ = 2
    g = pyspiel.create_matrix_game(R.tolist(), R.T.tolist())
    P = from_pyspiel(g).P
    np.testing.assert_allclose(P, 0.5 + (R - 1.0) / (2 * 3.0), atol=1e-15)
    tie = pyspiel.create_matrix_game([[2.0, 2.0], [2.0, 2.0]], [[2.0, 2.0], [2.0, 2.0]])
    np.testing.assert_array_equal(from_pyspiel(tie).P, 0.5)


@pytest.mark.parametrize(
    "game,match",
    [
        ("matrix_mp", "not symmetric"),
        ("matrix_pd", "not constant-sum"),
        ("matrix_bos", "not"),
        ("matrix_shapleys_game", "not"),
        ("kuhn_poker", "is not a two-player matrix game"),
        ("no_such_game", "unknown OpenSpiel game 'no_such_game'"),
    ],
)
def test_refused(game, match):
    with pytest.raises(ValueError, match=match):
        from_pyspiel(game)


def test_refused_shapes():
    g = pyspiel.create_matrix_game([[0.0, 1.0, 0.0]], [[0.0, -1.0, 0.0]])
    with pytest.raises(ValueError, match="1 row actions vs 3 columns"):
        from_pyspiel(g)
    with pytest.raises(ValueError, match="one game at a time"):
        to_pyspiel(PreferenceGame(np.stack([make_matrix("cyclic")] * 2)))
    with pytest.raises(ValueError, match="action_names must have 3 entries"):
        to_pyspiel(make_matrix("cyclic"), action_names=["a"])
