"""Every registered rule, derived from its declaration, reproduces the trajectories its hand-written step produced
before the rules became declarations (``tests/solvers/data/trajectories.npz``, written by
``trajectory_snapshot.py``): 200 steps, three games, exact and sampled feedback."""

import os

import numpy as np
import pytest

from nashlab.solvers import RULES

from trajectory_snapshot import FEEDBACK, GAMES, HPARAMS, key, trajectory

DATA = np.load(os.path.join(os.path.dirname(__file__), "data", "trajectories.npz"))


def test_snapshot_rules_are_registered():
    """Every rule recorded before the re-expression is still registered (a rule added later has no old trajectory to
    reproduce; the registry-wide suites cover it)."""
    assert set(HPARAMS) <= set(RULES)


@pytest.mark.parametrize("feedback", FEEDBACK)
@pytest.mark.parametrize("game", sorted(GAMES))
@pytest.mark.parametrize("rule", sorted(HPARAMS))
def test_reproduces_recorded_trajectory(rule, game, feedback):
    got = trajectory(rule, game, feedback)
    want = DATA[key(rule, game, feedback)]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
