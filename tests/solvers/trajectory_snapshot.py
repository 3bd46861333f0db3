"""The reference trajectories every registered rule must keep reproducing (``test_solvers_trajectories.py``).

Written once, before the rules were re-expressed as declarations (``solvers/rule.py``), by running each rule's
hand-written step: 200 steps from a non-equilibrium start on three games, under exact and under sampled feedback.
Regenerate only when a documented bug fix changes a trajectory:

    python tests/solvers/trajectory_snapshot.py tests/solvers/data/trajectories.npz
"""

from __future__ import annotations

import sys

import numpy as np
import torch

STEPS = 200
#: name -> (P, π_ref, π_0): a cyclic game, a random skew game and an EGPO-style game, each with a non-uniform
#: reference and a start away from every equilibrium.
GAMES = {"cyclic3": ("cyclic", {"n": 3}), "skew5": ("skew", {"n": 5, "seed": 3}), "egpo4": ("egpo", {"n": 4, "seed": 1})}
#: Each rule's hyper-parameters for the snapshot (η at or near its documented limit, where rounding differences
#: would show first).
HPARAMS = {
    "mwu": {"eta": 0.5}, "sppo": {"eta": 0.5}, "inpo": {"eta": 0.5, "beta": 0.2}, "nash-md": {"eta": 0.5, "beta": 0.2},
    "egpo": {"eta": 0.8, "beta": 0.05}, "nash-mp": {"eta": 2.0, "beta": 0.05}, "omwu": {"eta": 0.125},
    "mmd": {"eta": 0.4, "beta": 0.1}, "mnpo": {"eta": 0.3, "num_players": 3},
    "td-mnpo": {"eta": 0.2, "beta": 0.5, "num_players": 3, "lam": [0.7, 0.3]},
}
FEEDBACK = ("exact", "sampled:16")


def game(name: str):
    from nashlab.games.generators import make_matrix

    kind, params = GAMES[name]
    P = torch.as_tensor(make_matrix(kind, **params), dtype=torch.float64)
    n = P.shape[0]
    g = torch.Generator().manual_seed(n)
    log_ref = torch.log_softmax(torch.randn(n, generator=g, dtype=torch.float64) * 0.5, -1)
    log_pi0 = torch.log_softmax(torch.randn(n, generator=g, dtype=torch.float64) * 1.5, -1)
    return P, log_ref, log_pi0


def trajectory(rule: str, game_name: str, feedback: str) -> np.ndarray:
    """``[STEPS + 1, ...]`` log π_t of ``rule`` (``[..., N, n]`` for a player-axis rule)."""
    from nashlab.solvers import SOLVERS, make_solver
    from nashlab.solvers.feedback import make_feedback

    P, log_ref, log_pi0 = game(game_name)
    solver = make_solver(rule, **HPARAMS[rule])
    if SOLVERS[rule].multiplayer:
        n = P.shape[0]
        g = torch.Generator().manual_seed(7)
        log_pi0 = torch.log_softmax(torch.randn(solver.hparams["num_players"], n, generator=g, dtype=torch.float64), -1)
    state = solver.init(log_ref, log_pi0)
    fb = make_feedback(feedback, P, seed=11)
    out = [state.log_pi.clone()]
    for _ in range(STEPS):
        state = solver.step(state, fb)
        out.append(state.log_pi.clone())
    return torch.stack(out).numpy()


def key(rule: str, game_name: str, feedback: str) -> str:
    return f"{rule}|{game_name}|{feedback}"


def snapshot() -> dict[str, np.ndarray]:
    return {key(r, g, f): trajectory(r, g, f) for r in HPARAMS for g in GAMES for f in FEEDBACK}


if __name__ == "__main__":
    np.savez_compressed(sys.argv[1], **snapshot())
