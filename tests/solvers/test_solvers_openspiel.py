"""Agreement with another implementation: our MMD equals open_spiel's MMD (``mmd_dilated``, dilated entropy, uniform
magnet) on a preference matrix game, step by step (the game as zero-sum with row payoff ``P − ½``; the ½ shift does
not change the rule)."""

import math

import numpy as np
import pytest
import torch

from nashlab.games import make_matrix
from nashlab.solvers import exact_feedback, make_solver
from nashlab.solvers.benchmarks import openspiel_mmd


@pytest.mark.parametrize("n,beta,eta", [(3, 0.5, 2.0), (6, 0.2, 0.5), (9, 0.1, 0.4)])
def test_mmd_matches_openspiel(n, beta, eta):
    P = make_matrix("cyclic", n=n) if n == 3 else make_matrix("egpo", n=n, seed=n)
    theirs = openspiel_mmd(P, alpha=beta, stepsize=eta)
    solver = make_solver("mmd", eta=eta, beta=beta)
    state = solver.init(torch.full((n,), -math.log(n), dtype=torch.float64))  # uniform magnet and start
    fb = exact_feedback(torch.tensor(P))
    for _ in range(6):
        theirs.update_sequences()
        state = solver.step(state, fb)
        row, col = (np.asarray(s)[1:] for s in theirs.current_sequences())  # drop the empty sequence
        np.testing.assert_allclose(row, state.log_pi.exp().numpy(), atol=1e-12, rtol=0)
        np.testing.assert_allclose(col, row, atol=1e-12, rtol=0)  # symmetric game, symmetric start
