"""``nashlab bench [solvers|equilibria] [--quick] [--threads N] [--json]``: performance as ratios measured side by side
in one run.

``nashlab bench`` (``solvers``, the default):

* one EGPO step at n = 400 vs a bare numpy MWU step (aim ≤ 2×);
* one EGPO step on 1,024 games at n = 100 vs the floor of its two batched win-rate products, each product timed with
  the fastest of several kernels (aim ≤ 2× on CPU; ≤ 3× on GPU);
* open_spiel's MMD on the same matrix game at n = 400 vs ours (aim ≥ 1,000× faster per step);
* GPU figures when CUDA is visible, otherwise "not measured (no CUDA)".

``nashlab bench equilibria [--sizes 100,400,1000,3000] [--time-limit S]``: the reference equilibria at
n ∈ {100, 400, 1,000, 3,000} (skew games): nashlab's exact and regularised solvers against scipy's HiGHS simplex and
interior point on the plain LP, nashpy's ``linear_program`` and open_spiel's ``lp_solver`` (n ≤ 400), with the
speed-up over the best peer, the regularised solve in units of one dense n × n solve, and the batch of 256 games of
n = 100 against a loop (about 10 minutes on 2 cores; ``--sizes 100,400`` for a quick look).
"""

from __future__ import annotations

import sys

from nashlab.experiments.json_output import JSON_HELP


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("bench", help="solver performance ratios (EGPO vs numpy floor, batch vs kernel floor, "
                                            "vs open_spiel MMD)", description=__doc__)
    p.add_argument("what", nargs="?", choices=["solvers", "equilibria"], default="solvers",
                   help="solvers (default): update-rule steps; equilibria: reference equilibria vs LP peers")
    p.add_argument("--sizes", default="100,400,1000,3000", metavar="N,N,...",
                   help="equilibria: game sizes (default 100,400,1000,3000)")
    p.add_argument("--time-limit", type=float, default=120.0, metavar="S",
                   help="equilibria: seconds each LP peer may take per game (default 120)")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (noisier)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads during the run (default 1; 0 keeps "
                                                          "torch's default)")
    p.add_argument("--json", action="store_true",
                   help="print all figures as one JSON object on the last line" + JSON_HELP)
    p.set_defaults(func=run)


def _run_equilibria(args) -> int:
    from nashlab.games import nash_bench

    try:
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--sizes must be comma-separated integers; got {args.sizes!r}") from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--sizes must be integers ≥ 1; got {args.sizes!r}")
    if not args.time_limit > 0:
        raise ValueError(f"--time-limit must be > 0; got {args.time_limit!r}")
    res = nash_bench.run(sizes, time_limit=args.time_limit,
                         progress=lambda msg: print(f"measuring {msg}", file=sys.stderr, flush=True))
    if args.json:
        from nashlab.experiments.json_output import emit_json

        emit_json(res)
    else:
        print(nash_bench.format_table(res))
    return 0


def run(args) -> int:
    from nashlab.solvers.benchmarks import run_all

    if args.what == "equilibria":
        return _run_equilibria(args)

    if args.threads < 0:
        raise ValueError(f"--threads must be ≥ 0; got {args.threads}")
    print("measuring (a minute) ...", file=sys.stderr)
    res = run_all(quick=args.quick, threads=args.threads or None)
    if args.json:
        from nashlab.experiments.json_output import emit_json

        emit_json(res)
        return 0
    s, b, o, g = res["step_n400"], res["batch_1024x100"], res["openspiel_mmd_n400"], res["gpu"]
    print(f"torch threads: {res['torch_threads']}")
    print(f"EGPO step, n={s['n']}:            {s['egpo_step_us']:8.1f} µs  vs numpy MWU step {s['numpy_mwu_step_us']:.1f} µs"
          f"  → ratio {s['ratio']:.2f}× (aim ≤ 2×; EGPO needs 2 win-rate products per step, MWU 1: "
          f"{s['ratio_per_win_rate_product']:.2f}× per product)")
    print(f"batched product kernels, {b['batch']}×{b['n']}×{b['n']} float64 CPU:")
    for k, v in sorted(b["kernels_ms"].items(), key=lambda kv: kv[1]):
        print(f"    {k:28s} {v:7.2f} ms{'  (fastest)' if k == b['fastest_kernel'] else ''}")
    print(f"EGPO step, batch {b['batch']} × n={b['n']}: {b['egpo_step_ms']:8.2f} ms  vs floor 2 × {b['fastest_kernel']} = "
          f"{b['floor_ms']:.2f} ms  → ratio {b['ratio']:.2f}× (aim ≤ 2×)")
    print(f"MMD step, n={o['n']}: open_spiel {o['openspiel_mmd_step_s']:.3f} s vs ours {o['ours_mmd_step_us']:.1f} µs"
          f"  → {o['speedup']:.0f}× faster (aim ≥ 1,000×)")
    if isinstance(g, str):
        print(f"GPU: {g}")
    else:
        print(f"GPU ({g['device']}): EGPO step {g['egpo_step_ms']:.3f} ms vs 2 × bmm {g['floor_ms']:.3f} ms → "
              f"ratio {g['ratio']:.2f}× (aim ≤ 3×)")
    return 0
