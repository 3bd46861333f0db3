"""``nashlab solvers``: every registered rule, read from its declaration: name, update, fixed point, claim, paper.

Examples::

    nashlab solvers
    nashlab solvers --json | tail -n 1 | jq '.rules[] | select(.claim == "linear") | .name'
    nashlab solvers --rule path/to/rule.py:OPTIMISTIC_INPO     # a rule of your own, listed with the built-in ones

With ``--json`` the last stdout line is one JSON object (docs/json_output.md) with ``rules``: a list of
``{name, update, fixed_point, claim, claim_text, paper, phases, defaults, eta_limit, multiplayer}``
(``multiplayer``: whether the rule plays an N-player game, i.e. declares a player axis).
"""

from __future__ import annotations

import argparse

from nashlab.experiments.cli import plain_help
from nashlab.experiments.json_output import JSON_HELP


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("solvers", help="list every registered rule: update, fixed point, claim, paper",
                              description=plain_help(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rule", action="append", default=[], metavar="SPEC",
                   help="also list this rule (path/to/rule.py:NAME or an installed entry point); repeatable")
    p.add_argument("--markdown", action="store_true",
                   help="print the table as Markdown rows (the README's solvers table is this output)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line" + JSON_HELP)
    p.set_defaults(func=run)


def markdown(rows) -> str:
    """The README's solvers table: one row per rule, every cell read from its declaration."""
    lines = ["| key | update (ℓ = log π) | fixed point | claim | paper |", "|---|---|---|---|---|"]
    for r in rows:
        cells = [f"`{r['name']}`", r["update"], r["fixed_point"], f"{r['claim']}: {r['claim_text']}", r["paper"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def run(args) -> int:
    from nashlab.experiments.json_output import emit_json
    from nashlab.solvers import RULES, load_rule
    from nashlab.solvers.rule import describe

    rules = list(RULES.values()) + [load_rule(s) for s in args.rule]
    rows = [describe(r) for r in rules]
    if args.json:
        emit_json({"rules": rows})
        return 0
    if args.markdown:
        print(markdown(rows))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['update']}")
        print(f"{'':<{width}}  fixed point: {r['fixed_point']}; claim ({r['claim']}): {r['claim_text']}")
        print(f"{'':<{width}}  {r['paper']}")
    return 0
