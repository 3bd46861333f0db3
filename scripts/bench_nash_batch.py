#!/usr/bin/env python
"""Batched reference equilibria against a loop of single-game calls, on the same games, in one run (issue 13).

    .venv/bin/python scripts/bench_nash_batch.py                       # skew, egpo, embedding; 3 rounds
    .venv/bin/python scripts/bench_nash_batch.py --families skew --rounds 5 --batch 256 --n 100
    .venv/bin/python scripts/bench_nash_batch.py --cases exact --rounds 5          # the exact equilibrium only

For each family, B games ``make_matrix(family, n=n, seed=s)``, ``s < B``, are solved by ``exact_nash`` and by
``regularized_nash`` at β = 0.01 and 0.1, once as one batch ``[B, n, n]`` and once as a loop of single-game calls
``[f(P[b]) for b in range(B)]`` (the library's single-game solver as a user calls it), timed by
:func:`nashlab.games.nash_bench.time_batch` (batch and loop alternate within each round, after one untimed warm-up
call of each kind, as ``nashlab bench equilibria``'s batch line is timed); each line gives the range over rounds of
both wall-clock times, of the per-round ratio loop/batch (and its median), and of the same ratio in CPU time of this
process (``time.process_time``: it counts only the time this process ran, so it moves less with other processes'
load; with more than one thread, BLAS's or the batch's per-game threads, it counts all of them). Every batched
answer's certificate is checked (DG_0 ≤ 1e-9; residual ≤ 1e-10). On shared cores only the ratios measured side by
side mean anything.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from nashlab.games.generators import make_matrix
from nashlab.games.nash_bench import time_batch
from nashlab.games.nash import exact_nash, regularized_nash

CASES = (("exact", lambda m, **kw: exact_nash(m, **kw), "duality_gap", 1e-9),
         ("reg β=0.01", lambda m, **kw: regularized_nash(m, beta=0.01, **kw), "residual", 1e-10),
         ("reg β=0.1", lambda m, **kw: regularized_nash(m, beta=0.1, **kw), "residual", 1e-10))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", default="skew,egpo,embedding")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--cases", default=",".join(c[0].split()[0] for c in CASES[:2]),
                    help="comma-separated: exact, reg (both β); default exact,reg")
    args = ap.parse_args(argv)
    wanted = set(args.cases.split(","))
    if not wanted <= {"exact", "reg"}:
        print(f"bench_nash_batch: unknown case(s) {sorted(wanted - {'exact', 'reg'})}; choose from exact, reg",
              file=sys.stderr)
        return 2
    cases = [c for c in CASES if c[0].split()[0] in wanted]
    if args.rounds < 1 or args.batch < 1 or args.n < 2:
        print("bench_nash_batch: --rounds and --batch must be ≥ 1 and --n ≥ 2", file=sys.stderr)
        return 2
    try:
        games = {f: np.stack([make_matrix(f, n=args.n, seed=s) for s in range(args.batch)])
                 for f in args.families.split(",")}
    except (ValueError, KeyError) as exc:
        print(f"bench_nash_batch: {exc}", file=sys.stderr)
        return 2
    print(f"B = {args.batch}, n = {args.n}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    for fam, P in games.items():
        for name, fn, field, bound in cases:
            # A single game returns its policy; the batch also its certificate, checked below.
            t = time_batch(P, lambda m, fn=fn: fn(m, return_certificate=True) if m.ndim == 3 else fn(m), args.rounds)
            worst = float(np.max(getattr(t["answer"][1], field)))
            if not worst <= bound:
                print(f"bench_nash_batch: {fam} {name}: a batched answer has {field} {worst:.1e} > {bound:g}",
                      file=sys.stderr)
                return 1
            bt, lt = t["batch_s"], t["loop_s"]
            ratio = [lo / b for lo, b in zip(lt, bt)]
            cpu = [lo / b for lo, b in zip(t["loop_cpu_s"], t["batch_cpu_s"])]
            print(f"{fam:10s} {name:11s} batch {min(bt):.3f}-{max(bt):.3f} s, looped {min(lt):.3f}-{max(lt):.3f} s, "
                  f"loop/batch {min(ratio):.2f}-{max(ratio):.2f}x, median {np.median(ratio):.2f}x (CPU time "
                  f"{min(cpu):.2f}-{max(cpu):.2f}x, median {np.median(cpu):.2f}x; "
                  f"worst {field} {worst:.1e})", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
