"""``nashlab games``: the built-in game generators, their parameters and defaults, and the other spec forms.

Examples::

    nashlab games
    nashlab games --json | tail -n 1 | jq '.generators[].name'
"""

from __future__ import annotations

import argparse

from nashlab.experiments.cli import plain_help
from nashlab.experiments.json_output import JSON_HELP


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("games", help="list game generators (with parameters and defaults) and spec forms",
                              description=plain_help(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line" + JSON_HELP)
    p.set_defaults(func=run)


def _summary(fn) -> str:
    doc = (fn.__doc__ or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


def catalogue() -> dict:
    """Generators (name, params with defaults, summary), spec forms, contextual parameters, loadable OpenSpiel games."""
    import inspect

    from nashlab.games import GENERATORS, contextual_embedding, generator_params
    from nashlab.games.datasets import describe_datasets
    from nashlab.games.openspiel_interop import loadable_openspiel_games
    from nashlab.games.spec import describe_specs

    generators = [
        {"name": name, "params": generator_params(name), "summary": _summary(fn),
         "example": f"{name}:" + ",".join(f"{k}={v}" for k, v in generator_params(name).items())}
        for name, fn in GENERATORS.items()
    ]
    contextual = {k: p.default for k, p in inspect.signature(contextual_embedding).parameters.items()}
    return {
        "generators": generators,
        "contextual": {"params": contextual, "summary": _summary(contextual_embedding)},
        "openspiel": loadable_openspiel_games(),
        "datasets": describe_datasets(),
        "spec_forms": describe_specs(),
        "ref_forms": ["uniform", "random:seed=S[,scale=σ]", "PATH.npy | PATH.json | PATH.csv"],
    }


def run(args) -> int:
    cat = catalogue()
    if args.json:
        from nashlab.experiments.json_output import emit_json

        emit_json(cat)
        return 0
    print("Game generators (spec NAME:k=v,...; `nashlab nash --game SPEC` solves one):\n")
    for g in cat["generators"]:
        params = ", ".join(f"{k}={v}" for k, v in g["params"].items())
        print(f"  {g['name']:<11} {g['summary']}")
        print(f"  {'':<11} parameters: {params}")
    ctx = ", ".join(f"{k}={v}" for k, v in cat["contextual"]["params"].items())
    print(f"\n  {'contextual':<11} {cat['contextual']['summary']}")
    print(f"  {'':<11} parameters: {ctx}")
    print(f"\n  openspiel:NAME  with NAME in {', '.join(cat['openspiel'])}")
    print("\nBundled datasets (measured preferences; provenance: games/data/PROVENANCE.md):")
    for d in cat["datasets"]:
        print(f"  {d['spec']:<18} {d['summary']}")
    print("\nSpec forms:")
    for f in cat["spec_forms"]:
        print(f"  {f['syntax']:<34} {f['help']} (e.g. {f['example']})")
    print(f"\nReference policies (--ref): {' | '.join(cat['ref_forms'])}")
    return 0
