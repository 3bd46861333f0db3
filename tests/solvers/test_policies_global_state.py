"""The MLP policy leaves process-wide state alone: make_mlp seeds a local generator (the global torch RNG is neither
read nor advanced), and a solve with the MLP policy leaves torch's thread count as the caller set it."""

from __future__ import annotations

import pytest
import torch

from nashlab.games import contextual_embedding
from nashlab.solvers import solve
from nashlab.solvers.policies import make_mlp


def _reference_mlp(d, n, hidden, seed, dtype):
    """torch's own construction: nn.Linear's default initialisation from the global RNG seeded with ``seed`` (inside
    fork_rng, so this reference itself changes nothing), output layer zeroed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, hidden),
                                  torch.nn.Tanh(), torch.nn.Linear(hidden, n)).to(dtype=dtype)
    with torch.no_grad():
        net[-1].weight.zero_()
        net[-1].bias.zero_()
    return net


@pytest.mark.parametrize("d, n, hidden, seed", [(3, 5, 64, 0), (8, 4, 16, 7), (1, 2, 3, 2**40)])
def test_make_mlp_equals_nn_linear_default_init_and_leaves_the_global_rng(d, n, hidden, seed):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    net = make_mlp(d, n, hidden, seed=seed)
    assert torch.equal(torch.random.get_rng_state(), before)
    ref = _reference_mlp(d, n, hidden, seed, torch.float64)
    got, want = net.state_dict(), ref.state_dict()
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == torch.float64 and torch.equal(got[k], want[k]), k
    # a different seed gives different hidden weights (the generator is really seeded)
    assert not torch.equal(make_mlp(d, n, hidden, seed=seed + 1)[0].weight, net[0].weight)


def test_solve_with_the_mlp_policy_keeps_threads_and_global_rng():
    before_threads = torch.get_num_threads()
    caller = 2 if before_threads != 2 else 3
    torch.set_num_threads(caller)
    try:
        torch.manual_seed(5)
        rng = torch.random.get_rng_state()
        game = contextual_embedding(n=3, contexts=4, seed=0)
        r = solve(game, "egpo", eta=0.5, beta=0.1, iters=2, every=1, policy="mlp", seed=0)
        assert r.policy.shape == (4, 3)
        assert torch.get_num_threads() == caller
        assert torch.equal(torch.random.get_rng_state(), rng)
    finally:
        torch.set_num_threads(before_threads)
