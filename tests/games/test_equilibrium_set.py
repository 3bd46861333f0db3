"""The β = 0 equilibrium set: uniqueness by one LP and a rank test, checked against coordinate ranges (2n LPs)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from nashlab.games import make_matrix
from nashlab.games.equilibrium_set import equilibrium_set, equilibrium_unique


def coordinate_ranges(P) -> np.ndarray:
    """``[n, 2]``: min and max of each σ_i over E = {σ ∈ Δ : Pσ ≤ ½}, by 2n separate LPs (the direct definition)."""
    n = P.shape[0]
    out = np.zeros((n, 2))
    for i in range(n):
        for k, sign in enumerate((1.0, -1.0)):
            c = np.zeros(n)
            c[i] = sign
            res = linprog(c, A_ub=P - 0.5, b_ub=np.zeros(n), A_eq=np.ones((1, n)), b_eq=[1.0], bounds=[(0, 1)] * n,
                          method="highs")
            assert res.status == 0
            out[i, k] = res.x[i]
    return out


def ternary_game(n, seed):
    """A random tournament with ties: P[i, j] ∈ {0, ½, 1}, often with many equilibria."""
    rng = np.random.default_rng(seed)
    P = np.full((n, n), 0.5)
    iu = np.triu_indices(n, 1)
    P[iu] = rng.choice([0.0, 0.5, 1.0], size=len(iu[0]))
    P.T[iu] = 1.0 - P[iu]
    return P


def cloned_rps(copies):
    """Rock-paper-scissors with rock played by ``copies`` identical actions."""
    rps = make_matrix("cyclic", n=3)
    idx = [0] * copies + [1, 2]
    return rps[np.ix_(idx, idx)]


CASES = ([("cyclic2", make_matrix("cyclic", n=2)), ("cyclic4", make_matrix("cyclic", n=4)),
          ("cyclic5", make_matrix("cyclic", n=5)), ("clone", cloned_rps(2)), ("clone3", cloned_rps(3)),
          ("bt", make_matrix("bt", n=6)), ("egpo", make_matrix("egpo", n=8, seed=1))]
         + [(f"ternary{n}-{s}", ternary_game(n, s)) for n in (3, 4, 5, 6, 7) for s in range(12)])


@pytest.mark.parametrize("name,P", CASES, ids=[c[0] for c in CASES])
def test_uniqueness_matches_coordinate_ranges(name, P):
    ranges = coordinate_ranges(P)
    es = equilibrium_set(P)
    assert es.unique == bool(np.all(ranges[:, 1] - ranges[:, 0] <= 1e-7)), ranges
    # the essential set is what some equilibrium plays; the interior point is an equilibrium playing all of it
    np.testing.assert_array_equal(es.essential, np.flatnonzero(ranges[:, 1] > 1e-7))
    assert np.all(P @ es.interior <= 0.5 + 1e-9) and es.interior.sum() == pytest.approx(1.0)
    assert np.array_equal(np.flatnonzero(es.interior > 0), es.essential)


def test_known_dimensions_and_a_mix_of_cases():
    assert equilibrium_set(make_matrix("cyclic", n=2)).dimension == 1  # all of Δ_2
    assert equilibrium_set(cloned_rps(3)).dimension == 2  # rock's 1/3 split among three clones
    assert equilibrium_set(make_matrix("cyclic", n=5)).unique
    unique = [equilibrium_set(P).unique for name, P in CASES if name.startswith("ternary")]
    assert 0 < sum(unique) < len(unique)  # the random cases exercise both answers


def test_batched_uniqueness():
    P = np.stack([make_matrix("cyclic", n=3), cloned_rps(1)[:3, :3], np.full((3, 3), 0.5)])
    np.testing.assert_array_equal(equilibrium_unique(P), [True, True, False])
    assert equilibrium_unique(make_matrix("cyclic", n=2)).shape == ()
