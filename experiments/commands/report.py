"""``nashlab report DIR [--json] [--target G]``: ranking tables of a run directory (per game and β, medians over
seeds): by final gap, and by the judge queries needed to reach ``gap ≤ G`` (default 1e-2; "never" / JSON ``null``
where more than half the seeds never reach it)."""

from __future__ import annotations

from nashlab.experiments.json_output import JSON_HELP


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("report", help="ranking tables of a run: final gap, iterations to 1e-3 / 1e-6, queries "
                                             "to a target gap", description=__doc__)
    p.add_argument("dir", help="run directory (holds results.sqlite)")
    p.add_argument("--json", action="store_true",
                   help="print the report as one JSON object on the last line (its 'tasks' lists every task with "
                        "its judge_queries; 'queries_to_target' ranks the rules)" + JSON_HELP)
    p.add_argument("--target", default="1e-2",
                   help="target gap of the queries-to-target ranking (DG_β for β > 0, DG_0 at β = 0; default 1e-2)")
    p.set_defaults(func=run)


def run(args) -> int:
    from nashlab.experiments.report import (build_report, check_target, format_queries_tables, format_tables,
                                            report_json)

    target = check_target(args.target)
    if args.json:
        from nashlab.experiments.json_output import emit_json

        emit_json(report_json(args.dir, target))
    else:
        rep = build_report(args.dir, target)
        print(format_tables(rep["tables"]))
        print(format_queries_tables(rep["queries_to_target"]))
        exp = rep["expected_tasks"]
        pending = f" ({exp - rep['num_tasks']} of {exp} not run yet: rerun `nashlab run` to finish)" \
            if exp is not None and exp > rep["num_tasks"] else ""
        print(f"{rep['num_tasks']} tasks in {args.dir}{pending}")
    return 0
