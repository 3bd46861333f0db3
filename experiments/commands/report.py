"""``nashlab report DIR [--json]``: ranking tables of a run directory (per game and β, medians over seeds)."""

from __future__ import annotations

import json


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("report", help="ranking tables of a run: final gap, iterations to 1e-3 / 1e-6, queries",
                              description=__doc__)
    p.add_argument("dir", help="run directory (holds results.sqlite)")
    p.add_argument("--json", action="store_true",
                   help="print the report as one JSON object on the last line (its 'tasks' lists every task)")
    p.set_defaults(func=run)


def run(args) -> int:
    from nashlab.experiments.report import build_report, format_tables, report_json

    if args.json:
        print(json.dumps(report_json(args.dir), allow_nan=False))
    else:
        rep = build_report(args.dir)
        print(format_tables(rep["tables"]))
        exp = rep["expected_tasks"]
        pending = f" ({exp - rep['num_tasks']} of {exp} not run yet: rerun `nashlab run` to finish)" \
            if exp is not None and exp > rep["num_tasks"] else ""
        print(f"{rep['num_tasks']} tasks in {args.dir}{pending}")
    return 0
