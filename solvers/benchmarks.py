"""Side-by-side performance measurements (used by ``nashlab bench`` and ``tests/benchmarks/test_bench_solvers.py``).

Every figure is measured in the same process, back to back, and reported as a ratio to its floor, so the ratio is
meaningful on any machine (absolute times are not). Timings are the minimum over ``repeat`` runs of the mean over
``number`` calls (the usual ``timeit`` convention: the minimum is the least disturbed by other processes).

1. One EGPO step at n = 400 (torch, float64) against a bare numpy MWU step (the floor: one GEMV, one exp, one
   log-sum-exp); aim ≤ 2×.
2. One EGPO step on a batch of 1,024 games at n = 100 against the floor of its two batched win-rate products, each
   timed with the fastest of several kernels (numpy einsum / matmul, torch bmm / einsum / row-vector bmm); aim ≤ 2×.
3. open_spiel's MMD (``open_spiel.python.algorithms.mmd_dilated``) on the same matrix game at n = 400 against ours;
   aim ≥ 1,000× faster per step.
4. GPU: the batched step against its two ``torch.bmm`` products, when CUDA is visible; otherwise "not measured".
"""

from __future__ import annotations

import math
import timeit

import numpy as np
import torch

from .feedback import exact_feedback
from .registry import make_solver


def best_time(fn, number: int = 50, repeat: int = 5, sync=None) -> float:
    """Seconds per call: min over ``repeat`` of the mean over ``number`` calls (``sync`` called after each run)."""
    def run():
        for _ in range(number):
            fn()
        if sync is not None:
            sync()
    return min(timeit.repeat(run, number=1, repeat=repeat)) / number


def _egpo_matrix(n: int, seed: int = 0) -> np.ndarray:
    from nashlab.games import make_matrix

    return make_matrix("egpo", n=n, seed=seed)


def numpy_mwu_step(P: np.ndarray, log_pi: np.ndarray, eta: float) -> np.ndarray:
    """The floor: ``ℓ' = ℓ + η P e^ℓ`` normalised with a hand-written log-sum-exp (numpy, float64)."""
    x = log_pi + eta * (P @ np.exp(log_pi))
    m = x.max()
    return x - (m + np.log(np.exp(x - m).sum()))


def bench_step(n: int = 400, number: int = 200, repeat: int = 7) -> dict:
    """One EGPO step (tabular, exact feedback) vs one bare numpy MWU step at ``n``."""
    P = _egpo_matrix(n)
    ell = np.full(n, -math.log(n))
    Pt = torch.tensor(P)
    solver = make_solver("egpo", eta=0.8, beta=0.01)
    fb = exact_feedback(Pt)
    box = {"np": ell, "st": solver.init(torch.tensor(ell))}

    def np_step():
        box["np"] = numpy_mwu_step(P, box["np"], 0.1)

    def egpo_step():
        box["st"] = solver.step(box["st"], fb)

    t_np = best_time(np_step, number, repeat)
    t_eg = best_time(egpo_step, number, repeat)
    assert torch.isfinite(box["st"].log_pi).all() and np.isfinite(box["np"]).all()
    # EGPO evaluates the win rates twice per step (at π_t and π_½), MWU once: per product the ratio is half.
    return {"n": n, "numpy_mwu_step_us": t_np * 1e6, "egpo_step_us": t_eg * 1e6, "ratio": t_eg / t_np,
            "ratio_per_win_rate_product": t_eg / (2 * t_np)}


def product_kernels(P: np.ndarray, pi: np.ndarray) -> dict:
    """Candidate kernels for one batched product ``g = P π`` (``[B, n, n] @ [B, n]``), float64 CPU."""
    Pt, pit = torch.from_numpy(P), torch.from_numpy(pi)
    PtT = Pt.transpose(-1, -2).contiguous()
    return {
        "numpy einsum": lambda: np.einsum("bij,bj->bi", P, pi),
        "numpy matmul": lambda: np.matmul(P, pi[..., None])[..., 0],
        "torch bmm": lambda: torch.bmm(Pt, pit.unsqueeze(-1)).squeeze(-1),
        "torch einsum": lambda: torch.einsum("bij,bj->bi", Pt, pit),
        "torch bmm (row vector, Pᵀ)": lambda: torch.bmm(pit.unsqueeze(-2), PtT).squeeze(-2),
    }


def bench_batch(batch: int = 1024, n: int = 100, number: int = 10, repeat: int = 5) -> dict:
    """One batched EGPO step vs twice the fastest batched product kernel."""
    from nashlab.games import make_matrix

    rng = np.random.default_rng(0)
    P = np.stack([make_matrix("egpo", n=n, seed=s) for s in range(batch)])
    pi = rng.dirichlet(np.ones(n), size=batch)
    kernels = {name: best_time(fn, number, repeat) for name, fn in product_kernels(P, pi).items()}
    fastest = min(kernels, key=kernels.get)
    floor = 2 * kernels[fastest]  # EGPO needs two win-rate products per step
    solver = make_solver("egpo", eta=0.8, beta=0.01)
    fb = exact_feedback(torch.from_numpy(P))
    box = {"st": solver.init(torch.log(torch.from_numpy(pi)))}

    def egpo_step():
        box["st"] = solver.step(box["st"], fb)

    t_eg = best_time(egpo_step, number, repeat)
    assert torch.isfinite(box["st"].log_pi).all()
    return {"batch": batch, "n": n, "kernels_ms": {k: v * 1e3 for k, v in kernels.items()}, "fastest_kernel": fastest,
            "floor_ms": floor * 1e3, "egpo_step_ms": t_eg * 1e3, "ratio": t_eg / floor}


def openspiel_mmd(P: np.ndarray, alpha: float, stepsize: float):
    """open_spiel's MMD (dilated entropy, uniform magnet) on the zero-sum matrix game with row payoff ``P − ½``."""
    import pyspiel
    from open_spiel.python.algorithms import mmd_dilated

    n = P.shape[0]
    names = [f"a{i}" for i in range(n)]
    R = P - 0.5
    game = pyspiel.create_matrix_game("pref", "preference game", names, names, R.tolist(), (-R).tolist())
    return mmd_dilated.MMDDilatedEnt(pyspiel.convert_to_turn_based(game), alpha=alpha, stepsize=stepsize)


def bench_openspiel(n: int = 400, os_steps: int = 3, number: int = 200, repeat: int = 5) -> dict:
    """open_spiel's MMD step vs ours on the same game (same α = β, stepsize = η, uniform magnet)."""
    P = _egpo_matrix(n)
    beta, eta = 0.1, 0.4
    mmd = openspiel_mmd(P, beta, eta)
    t_os = best_time(mmd.update_sequences, number=os_steps, repeat=1)
    solver = make_solver("mmd", eta=eta, beta=beta)
    fb = exact_feedback(torch.tensor(P))
    box = {"st": solver.init(torch.full((n,), -math.log(n), dtype=torch.float64))}

    def step():
        box["st"] = solver.step(box["st"], fb)

    t_ours = best_time(step, number, repeat)
    return {"n": n, "openspiel_mmd_step_s": t_os, "ours_mmd_step_us": t_ours * 1e6, "speedup": t_os / t_ours}


def bench_gpu(batch: int = 1024, n: int = 100, number: int = 50, repeat: int = 5) -> dict | str:
    """Batched EGPO step on CUDA vs two ``torch.bmm`` products; a string when no CUDA device is visible."""
    if not torch.cuda.is_available():
        return "not measured (no CUDA)"
    dev = torch.device("cuda")
    gen = torch.Generator(device="cpu").manual_seed(0)
    A = torch.rand(batch, n, n, generator=gen, dtype=torch.float64)
    P = (0.5 + 0.5 * (A - A.transpose(-1, -2))).to(dev)
    pi = torch.softmax(torch.randn(batch, n, generator=gen, dtype=torch.float64), -1).to(dev)
    sync = torch.cuda.synchronize
    t_bmm = best_time(lambda: torch.bmm(P, pi.unsqueeze(-1)), number, repeat, sync)
    solver = make_solver("egpo", eta=0.8, beta=0.01)
    fb = exact_feedback(P)
    box = {"st": solver.init(torch.log(pi))}

    def step():
        box["st"] = solver.step(box["st"], fb)

    t_eg = best_time(step, number, repeat, sync)
    return {"device": torch.cuda.get_device_name(), "bmm_ms": t_bmm * 1e3, "floor_ms": 2 * t_bmm * 1e3,
            "egpo_step_ms": t_eg * 1e3, "ratio": t_eg / (2 * t_bmm)}


def run_all(quick: bool = False, threads: int | None = 1) -> dict:
    """Every measurement, side by side. ``threads``: torch intra-op threads for the run (``None`` keeps the
    default); 1 by default because small steps lose to OpenMP hand-off on 2 cores, and numpy's floor is one thread
    for a GEMV too."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        scale = 0.2 if quick else 1.0
        return {
            "torch_threads": torch.get_num_threads(),
            "step_n400": bench_step(number=max(20, int(200 * scale))),
            "batch_1024x100": bench_batch(number=max(2, int(10 * scale)), repeat=3 if quick else 5),
            "openspiel_mmd_n400": bench_openspiel(os_steps=1 if quick else 3),
            "gpu": bench_gpu(),
        }
    finally:
        torch.set_num_threads(before)
