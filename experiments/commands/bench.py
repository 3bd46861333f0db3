"""``nashlab bench [--quick] [--threads N] [--json]``: solver performance as ratios measured side by side in one run.

* one EGPO step at n = 400 vs a bare numpy MWU step (aim ≤ 2×);
* one EGPO step on 1,024 games at n = 100 vs the floor of its two batched win-rate products, each product timed with
  the fastest of several kernels (aim ≤ 2× on CPU; ≤ 3× on GPU);
* open_spiel's MMD on the same matrix game at n = 400 vs ours (aim ≥ 1,000× faster per step);
* GPU figures when CUDA is visible, otherwise "not measured (no CUDA)".
"""

from __future__ import annotations

import json
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("bench", help="solver performance ratios (EGPO vs numpy floor, batch vs kernel floor, "
                                            "vs open_spiel MMD)", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer repetitions (noisier)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads during the run (default 1; 0 keeps "
                                                          "torch's default)")
    p.add_argument("--json", action="store_true", help="print all figures as one JSON object on the last line")
    p.set_defaults(func=run)


def run(args) -> int:
    from nashlab.solvers.benchmarks import run_all

    if args.threads < 0:
        raise ValueError(f"--threads must be ≥ 0; got {args.threads}")
    print("measuring (a minute) ...", file=sys.stderr)
    res = run_all(quick=args.quick, threads=args.threads or None)
    if args.json:
        print(json.dumps(res))
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
