"""PreferenceGame validation: every malformed input is refused with a ValueError naming the violation."""

from __future__ import annotations

import numpy as np
import pytest

from nashlab.games import (
    ContextualGame,
    MultiplayerGame,
    PreferenceGame,
    contextual_embedding,
    make_matrix,
    symmetrize,
    validate_beta,
    validate_policy,
    validate_preference_matrix,
)

RPS = make_matrix("cyclic", n=3)


@pytest.mark.parametrize(
    "P,match",
    [
        ([[0.5, "a"], [0.5, 0.5]], "P must be a numeric array"),
        ([0.5, 0.5], r"P must have shape \[..., n, n\]; got shape \(2,\)"),
        (np.full((2, 3), 0.5), r"P must be square in its last two axes; got shape \(2, 3\)"),
        (np.zeros((0, 0)), "P must have at least one action"),
        ([[0.5, np.nan], [0.5, 0.5]], r"P must be finite; P\(0, 1\) = nan"),
        ([[0.5, np.inf], [-np.inf, 0.5]], "P must be finite"),
        ([[0.5, 1.2], [-0.2, 0.5]], r"P entries must lie in \[0, 1\]; P\(0, 1\) = 1.2 \(2 entries outside\)"),
        ([[0.5, 1 + 1e-10], [-1e-10, 0.5]], r"P\(0, 1\) = 1.0000000001"),
        ([[0.5, 0.7], [0.4, 0.5]], r"P \+ Pᵀ must equal 1 within 1e-09; max \|P \+ Pᵀ − 1\| = 1.00e-01 at \(0, 1\)"),
        ([[0.6, 0.5], [0.5, 0.5]], r"P \+ Pᵀ must equal 1.*at \(0, 0\)"),
        (np.stack([RPS, RPS + np.eye(3) * 0.1]), r"at \(1, 0, 0\)"),
    ],
)
def test_bad_matrices_refused(P, match):
    with pytest.raises(ValueError, match=match):
        PreferenceGame(P)


def test_tolerance_is_documented_value():
    P = make_matrix("egpo", n=3, seed=0)
    P[0, 1] += 5e-10
    PreferenceGame(P)  # within SKEW_TOL = 1e-9
    P[0, 1] += 2e-9
    with pytest.raises(ValueError, match="within 1e-09"):
        PreferenceGame(P)


@pytest.mark.parametrize(
    "ref,match",
    [
        ([0.5, 0.5], r"pi_ref must have length 3 \(one entry per action\)"),
        ([0.5, 0.6, -0.1], r"pi_ref must be non-negative; pi_ref\(2\) = -0.1"),
        ([0.5, 0.5, 0.5], "pi_ref must sum to 1 within 1e-09; its entries sum to 1.5"),
        ([np.nan, 0.5, 0.5], "pi_ref must be finite"),
        ([0.5, 0.5, 0.0], r"pi_ref must have full support.*pi_ref\(2\) = 0"),
        (["x", 0.5, 0.5], "pi_ref must be a numeric vector"),
    ],
)
def test_bad_reference_refused(ref, match):
    with pytest.raises(ValueError, match=match):
        PreferenceGame(RPS, pi_ref=ref)


@pytest.mark.parametrize("beta", [-0.1, float("nan"), float("inf"), "abc", None])
def test_bad_beta_refused(beta):
    with pytest.raises(ValueError, match="beta must be a finite number ≥ 0"):
        PreferenceGame(RPS, beta=beta)
    with pytest.raises(ValueError, match="beta must be a finite number ≥ 0"):
        validate_beta(beta)


def test_valid_game_is_immutable_copy_and_batches():
    P = RPS.copy()
    g = PreferenceGame(P, pi_ref=[0.2, 0.3, 0.5], beta=0.1, name="rps")
    P[0, 1] = 0.0  # the caller's array is never aliased
    assert g.P[0, 1] == 0.0 or g.P[0, 1] == RPS[0, 1]
    assert g.P[0, 1] == RPS[0, 1]
    with pytest.raises(ValueError):
        g.P[0, 0] = 1.0  # read-only
    assert g.n == 3 and g.batch_shape == () and g.beta == 0.1
    np.testing.assert_allclose(g.log_pi_ref, np.log([0.2, 0.3, 0.5]))
    assert g.with_beta(0.5).beta == 0.5 and g.with_ref([1 / 3] * 3).pi_ref[0] == pytest.approx(1 / 3)
    b = PreferenceGame(np.stack([RPS, 1 - RPS]))
    assert b.batch_shape == (2,) and b[1].n == 3
    np.testing.assert_array_equal(b[1].P, 1 - RPS)
    with pytest.raises(IndexError):
        g[0]
    with pytest.raises(ValueError, match="does not broadcast"):
        PreferenceGame(np.stack([RPS, RPS]), pi_ref=np.full((3, 3), 1 / 3))


def test_validate_helpers():
    assert validate_preference_matrix([[0.5]]).shape == (1, 1)
    np.testing.assert_allclose(validate_policy([0.25, 0.75], 2), [0.25, 0.75])
    M = np.array([[0.5, 0.9], [0.3, 0.5]])  # raw judge scores: P + Pᵀ ≠ 1
    S = symmetrize(M)
    np.testing.assert_allclose(S + S.T, 1.0)
    np.testing.assert_allclose(S[0, 1], 0.8)


def test_contextual_and_multiplayer_validation():
    cg = contextual_embedding(n=4, contexts=6, seed=1)
    assert isinstance(cg, ContextualGame) and cg.num_contexts == 6 and cg.game.P.shape == (6, 4, 4)
    assert cg.features.shape[0] == 6 and cg.game.pi_ref.shape == (6, 4)
    assert np.abs(cg.game.P + np.swapaxes(cg.game.P, -1, -2) - 1).max() <= 1e-12
    np.testing.assert_array_equal(cg.game.P, contextual_embedding(n=4, contexts=6, seed=1).game.P)
    with pytest.raises(ValueError, match="contexts must be an integer ≥ 1"):
        contextual_embedding(contexts=0)
    with pytest.raises(ValueError, match=r"needs P of shape \[C, n, n\]"):
        ContextualGame(PreferenceGame(RPS), np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"features must have shape \[C=2, d\]"):
        ContextualGame(PreferenceGame(np.stack([RPS, RPS])), np.zeros((3, 2)))
    mg = MultiplayerGame(PreferenceGame(RPS), num_players=4)
    assert mg.n == 3
    with pytest.raises(ValueError, match="num_players must be an integer ≥ 2"):
        MultiplayerGame(PreferenceGame(RPS), num_players=1)
