"""``nashlab figs DIR``: draw every paper figure of a run directory into ``DIR/figs`` (PNG and PDF)."""

from __future__ import annotations

import json
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("figs", help="draw the figures of a run (DIR/figs/*.png, *.pdf)", description=__doc__)
    p.add_argument("dir", help="run directory (holds results.sqlite)")
    p.add_argument("--json", action="store_true", help="print the written paths as JSON on the last line")
    p.add_argument("--workers", type=int, default=None, help="processes drawing figures (default: CPU cores, ≤ 4)")
    p.set_defaults(func=run)


def run(args) -> int:
    from nashlab.paper_figs import write_figures

    import os

    workers = args.workers if args.workers is not None else min(os.cpu_count() or 1, 4)
    if workers < 1:
        raise ValueError(f"--workers must be ≥ 1; got {workers}")
    paths = write_figures(args.dir, workers=workers)
    if args.json:
        print(json.dumps({"figures": [str(p) for p in paths]}))
    else:
        for p in paths:
            print(p)
    print(f"{len(paths)} files in {args.dir}/figs", file=sys.stderr)
    return 0
