"""pytest-benchmark cases for the solvers. The timed work is inside ``benchmark(...)``; the floor it is compared with is
measured side by side in the same test and the ratio goes to ``extra_info`` (only when benchmarking is enabled: the
normal run uses ``--benchmark-disable`` and just checks the results). No timing assertions.

    pytest tests/benchmarks/test_bench_solvers.py --benchmark-enable
"""

import math

import numpy as np
import pytest
import torch

from nashlab.solvers import exact_feedback, make_solver
from nashlab.solvers.benchmarks import best_time, numpy_mwu_step, openspiel_mmd, product_kernels


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """As ``nashlab bench``: one intra-op thread (small steps lose to OpenMP hand-off on 2 cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _egpo(n, seed=0):
    from nashlab.games import make_matrix

    return make_matrix("egpo", n=n, seed=seed)


def _run_steps(solver, state, fb, k):
    for _ in range(k):
        state = solver.step(state, fb)
    return state


def test_bench_egpo_step_n400(benchmark):
    n = 400
    P = _egpo(n)
    solver = make_solver("egpo", eta=0.8, beta=0.01)
    fb = exact_feedback(torch.tensor(P))
    state = solver.init(torch.full((n,), -math.log(n), dtype=torch.float64))
    out = benchmark(solver.step, state, fb)
    assert out.t == 1 and torch.isfinite(out.log_pi).all()
    if not benchmark.disabled:
        ell = np.full(n, -math.log(n))
        floor = best_time(lambda: numpy_mwu_step(P, ell, 0.1), 200, 5)
        mine = best_time(lambda: solver.step(state, fb), 200, 5)
        benchmark.extra_info.update(numpy_mwu_step_us=floor * 1e6, egpo_step_us=mine * 1e6, ratio=mine / floor)


def test_bench_egpo_batch_1024x100(benchmark):
    B, n = 1024, 100
    rng = np.random.default_rng(0)
    P = np.stack([_egpo(n, s) for s in range(B)])
    pi = rng.dirichlet(np.ones(n), size=B)
    solver = make_solver("egpo", eta=0.8, beta=0.01)
    fb = exact_feedback(torch.from_numpy(P))
    state = solver.init(torch.log(torch.from_numpy(pi)))
    out = benchmark(solver.step, state, fb)
    assert out.log_pi.shape == (B, n) and torch.isfinite(out.log_pi).all()
    if not benchmark.disabled:
        kernels = {k: best_time(f, 10, 3) for k, f in product_kernels(P, pi).items()}
        fastest = min(kernels, key=kernels.get)
        mine = best_time(lambda: solver.step(state, fb), 10, 3)
        benchmark.extra_info.update(kernels_ms={k: v * 1e3 for k, v in kernels.items()}, fastest=fastest,
                                    floor_ms=2e3 * kernels[fastest], ratio=mine / (2 * kernels[fastest]))


def test_bench_mmd_vs_openspiel(benchmark):
    n = 100  # open_spiel's MMD builds its sequence form in Python: n = 400 takes seconds to construct
    P = _egpo(n)
    solver = make_solver("mmd", eta=0.4, beta=0.1)
    fb = exact_feedback(torch.tensor(P))
    state = solver.init(torch.full((n,), -math.log(n), dtype=torch.float64))
    out = benchmark(_run_steps, solver, state, fb, 10)
    assert out.t == 10
    if not benchmark.disabled:
        mmd = openspiel_mmd(P, 0.1, 0.4)
        t_os = best_time(mmd.update_sequences, 3, 1)
        mine = best_time(lambda: solver.step(state, fb), 200, 5)
        benchmark.extra_info.update(openspiel_step_s=t_os, ours_step_us=mine * 1e6, speedup=t_os / mine)
