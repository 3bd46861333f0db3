"""``nashlab bench equilibria``: nashlab's reference equilibria against their peers, timed side by side in one run.

On random skew games (``skew:n=N,seed=1``) at each size: :func:`exact_nash` and :func:`regularized_nash` (β = 0.01 and
0.1, with one dense ``np.linalg.solve`` of size n timed in the same run as the unit), scipy's HiGHS dual simplex and
interior point (crossover on) on the plain LP ``min v s.t. Pπ ≤ v1, 1ᵀπ = 1, π ≥ 0``, nashpy's ``linear_program``
(n ≤ 400) and open_spiel's ``lp_solver`` (n ≤ 400, when installed). Peers get a time limit (HiGHS's own
``time_limit``; the others are skipped above 400). Every answer's ``DG_0`` is recomputed from its policy. The batch
figure is B = 256 contexts of n = 100 (embedding games, the slowest family for the batch), batched against a loop of
single-game calls (medians over alternating rounds). The machine's load average is
printed with the figures, since only ratios measured in one run mean anything on shared cores.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np

from .generators import make_matrix
from .nash import exact_nash, regularized_nash

SIZES = (100, 400, 1000, 3000)
#: Peers that are pure-Python LP front ends are only run up to this size (each takes minutes beyond it).
SMALL_PEERS_MAX_N = 400


def _timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _gap(P, pi):
    pi = np.clip(np.asarray(pi, dtype=float), 0, None)
    return 2.0 * float((P @ (pi / pi.sum())).max()) - 1.0


def _highs(P, method: str, time_limit: float):
    from scipy.optimize import linprog

    n = P.shape[0]
    c = np.zeros(n + 1)
    c[-1] = 1.0
    res = linprog(c, A_ub=np.hstack([P, -np.ones((n, 1))]), b_ub=np.zeros(n),
                  A_eq=np.concatenate([np.ones(n), [0.0]])[None], b_eq=[1.0],
                  bounds=[(0, None)] * n + [(None, None)], method=method, options={"time_limit": time_limit})
    return res.x[:n] if res.status == 0 else None


def _nashpy(P):
    import nashpy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nashpy.Game(P - 0.5).linear_program()[0]


def _openspiel(P):
    import pyspiel
    from open_spiel.python.algorithms import lp_solver

    game = pyspiel.create_matrix_game((P - 0.5).tolist(), (0.5 - P).tolist())
    return np.asarray(lp_solver.solve_zero_sum_matrix_game(game)[0], dtype=float)


def _peer(name, fn, P, limit=None):
    """``{"seconds", "gap"}``, or ``{"skipped": why}``."""
    try:
        secs, pi = _timed(fn)
    except ImportError as exc:
        return {"skipped": f"not installed ({exc.name})"}
    if pi is None:
        return {"skipped": f"no answer within the {limit:g} s limit", "seconds": secs}
    return {"seconds": secs, "gap": _gap(P, pi)}


def bench_size(n: int, time_limit: float) -> dict:
    P = make_matrix("skew", n=n, seed=1)
    row: dict = {"n": n}
    repeat = 3 if n <= 400 else 1
    secs, (pi, cert) = _timed(lambda: exact_nash(P, return_certificate=True), repeat)
    row["exact"] = {"seconds": secs, "gap": _gap(P, pi), "method": str(cert.method)}
    M, rhs = np.eye(n) + P, np.ones(n)
    row["dense_solve_s"] = _timed(lambda: np.linalg.solve(M, rhs), 5 if n <= 1000 else 2)[0]
    for beta in (0.01, 0.1):
        secs, (_, c) = _timed(lambda: regularized_nash(P, beta=beta, return_certificate=True), repeat)
        row[f"reg_{beta:g}"] = {"seconds": secs, "residual": float(c.residual), "method": str(c.method),
                                "dense_solves": secs / row["dense_solve_s"]}
    row["highs_simplex"] = _peer("highs", lambda: _highs(P, "highs-ds", time_limit), P, time_limit)
    row["highs_ipm"] = _peer("highs-ipm", lambda: _highs(P, "highs-ipm", time_limit), P, time_limit)
    if n <= SMALL_PEERS_MAX_N:
        row["nashpy"] = _peer("nashpy", lambda: _nashpy(P), P)
        row["open_spiel"] = _peer("open_spiel", lambda: _openspiel(P), P)
    else:
        row["nashpy"] = row["open_spiel"] = {"skipped": f"n > {SMALL_PEERS_MAX_N}"}
    peers = [v["seconds"] for k, v in row.items()
             if k in ("highs_simplex", "highs_ipm", "nashpy", "open_spiel") and "gap" in v]
    row["best_peer_s"] = min(peers) if peers else None
    row["speedup_vs_best_peer"] = row["best_peer_s"] / row["exact"]["seconds"] if peers else None
    if "gap" in row["highs_simplex"]:
        row["speedup_vs_highs_simplex"] = row["highs_simplex"]["seconds"] / row["exact"]["seconds"]
    return row


def time_batch(P, fn, rounds: int = 3) -> dict:
    """``fn`` on the stack ``P [B, n, n]`` as one batch against a loop of single-game calls ``[fn(P[b]) for b]``.

    After one untimed warm-up call of each kind (the first call of a process pays LAPACK's first use, and the batch's
    first pass its page faults), batch and loop alternate over ``rounds``. Returns ``{"batch_s", "loop_s",
    "batch_cpu_s", "loop_cpu_s"}`` (lists, one entry per round; CPU time of this process, all its threads, from
    ``time.process_time``) and ``"answer"``, the last batch's return value."""
    fn(P[:2])
    fn(P[0])
    out = {"batch_s": [], "loop_s": [], "batch_cpu_s": [], "loop_cpu_s": []}
    answer = None
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        answer = fn(P)
        out["batch_s"].append(time.perf_counter() - t0)
        out["batch_cpu_s"].append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        for m in P:
            fn(m)
        out["loop_s"].append(time.perf_counter() - t0)
        out["loop_cpu_s"].append(time.process_time() - c0)
    out["answer"] = answer
    return out


def bench_batch(B: int = 256, n: int = 100, previous_sample: int = 32, rounds: int = 3) -> dict:
    """The batch against a loop of today's single-game calls, and against a loop of the previous single-game methods
    (the full LP; Newton with continuation in β), timed on ``previous_sample`` games and scaled to B.

    Timed by :func:`time_batch`: the times are the medians over ``rounds`` and ``speedup`` the median of the per-round
    ratios (a single cold call of the batch, right after the n = 3,000 games, read 0.34 s where the warm median is
    0.21 s)."""
    from . import nash

    P = np.stack([make_matrix("embedding", n=n, seed=s) for s in range(B)])
    ref = np.full(n, 1.0 / n)
    out = {"batch": B, "n": n}
    cases = (("exact", lambda m: exact_nash(m), nash._max_lottery_single),
             ("reg_0.01", lambda m: regularized_nash(m, beta=0.01),
              lambda m: nash._reg_nash_single(m, ref, 0.01, 1e-13)),
             ("reg_0.1", lambda m: regularized_nash(m, beta=0.1),
              lambda m: nash._reg_nash_single(m, ref, 0.1, 1e-13)))
    for key, single, previous in cases:
        t = time_batch(P, single, rounds)
        bt, lt, pis = t["batch_s"], t["loop_s"], t["answer"]
        batched, looped = float(np.median(bt)), float(np.median(lt))
        prev, _ = _timed(lambda: [previous(m) for m in P[:previous_sample]])
        prev *= B / previous_sample
        worst = float(max(_gap(m, p) for m, p in zip(P, pis))) if key == "exact" else None
        out[key] = {"batched_s": batched, "looped_s": looped,
                    "speedup": float(np.median([lo / b for lo, b in zip(lt, bt)])), "worst_gap": worst,
                    "previous_looped_s": prev, "speedup_vs_previous": prev / batched}
    return out


def run(sizes=SIZES, time_limit: float = 120.0, batch: bool = True, progress=None) -> dict:
    """All figures as one dict (see the module docstring); ``progress(str)`` is told what is being measured."""
    load0 = os.getloadavg()
    rows = []
    for n in sizes:
        if progress:
            progress(f"n = {n} ...")
        rows.append(bench_size(n, time_limit))
    out = {"cpus": os.cpu_count(), "load_before": load0[0], "rows": rows, "time_limit_s": time_limit}
    if batch:
        if progress:
            progress("batch 256 × 100 ...")
        out["batch"] = bench_batch()
    out["load_after"] = os.getloadavg()[0]
    return out


def _fmt(entry) -> str:
    if "gap" in entry:
        return f"{entry['seconds']:8.3f}"
    return f"{'—':>8}" if entry.get("seconds") is None else f">{entry['seconds']:7.0f}"


def format_table(res: dict) -> str:
    lines = [f"cores: {res['cpus']}, load average {res['load_before']:.1f} before, {res['load_after']:.1f} after "
             f"(shared machine: compare ratios within a row); game skew:n=N,seed=1; seconds",
             f"{'n':>5} {'exact':>8} {'reg .01':>8} {'reg .1':>8} {'1 solve':>8} {'simplex':>8} {'HiGHS ipm':>9} "
             f"{'nashpy':>8} {'openspiel':>9} {'best/ours':>9} {'simplex/ours':>12} {'DG_0 ours':>9}"]
    for r in res["rows"]:
        sp = r.get("speedup_vs_best_peer")
        ss = r.get("speedup_vs_highs_simplex")
        lines.append(
            f"{r['n']:>5} {r['exact']['seconds']:8.3f} {r['reg_0.01']['seconds']:8.3f} {r['reg_0.1']['seconds']:8.3f} "
            f"{r['dense_solve_s']:8.4f} {_fmt(r['highs_simplex'])} {_fmt(r['highs_ipm']):>9} {_fmt(r['nashpy'])} "
            f"{_fmt(r['open_spiel']):>9} {(f'{sp:.1f}×' if sp else '—'):>9} {(f'{ss:.1f}×' if ss else '—'):>12} "
            f"{r['exact']['gap']:9.1e}")
    lines.append("regularised, in dense n × n solves of the same run (aim ≤ 10): " + "; ".join(
        f"n={r['n']}: β=0.01 {r['reg_0.01']['dense_solves']:.1f}, β=0.1 {r['reg_0.1']['dense_solves']:.1f} "
        f"(residual ≤ {max(r['reg_0.01']['residual'], r['reg_0.1']['residual']):.0e})" for r in res["rows"]))
    lines.append("methods: " + "; ".join(f"n={r['n']}: {r['exact']['method']}" for r in res["rows"]))
    lines.append("'>T': the peer hit the time limit; '—': not run (see --json)")
    if "batch" in res:
        b = res["batch"]
        for key in ("exact", "reg_0.01", "reg_0.1"):
            e = b[key]
            lines.append(f"batch {b['batch']} × n={b['n']} ({key}): batched {e['batched_s']:.2f} s vs looped single "
                         f"calls {e['looped_s']:.2f} s → {e['speedup']:.1f}×; vs the previous single-game method "
                         f"looped {e['previous_looped_s']:.1f} s → {e['speedup_vs_previous']:.1f}×"
                         + (f" (worst DG_0 {e['worst_gap']:.1e})" if e["worst_gap"] is not None else ""))
    return "\n".join(lines)
