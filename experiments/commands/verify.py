"""``nashlab verify RULE``: check a rule (built-in, ``path/to/rule.py:NAME`` or an installed entry point) before it is
promoted to LLM training.

Examples::

    nashlab verify egpo --beta 0.01
    nashlab verify path/to/rule.py:OPTIMISTIC_INPO --eta 0.1 --beta 0.1 --json
    nashlab verify td-mnpo --option num_players=4 --out runs/verify-td-mnpo

Checks, each reported with what it measured against its threshold: conformance (purity under exact and sampled
feedback, batched = looped, float32/float64, CUDA = CPU when a GPU exists, n = 1,000, the η limit at β = 1e-4, anchor
weights, bad hyper-parameters refused); faithful (the derived step against a plain-numpy evaluation of the
declaration, ≤ 1e-10); loss-step (minimising the derived losses over free logits reproduces each phase, ≤ 1e-6);
llm-realisation (the LLM trainer's own fitting code on a one-token model reproduces the step, ≤ 1e-5); claim (the
declared claim on a seeded suite of five cyclic games, also at the η limit); behaviour (what the last iterate does:
converges, average only, biased floor or diverges; it must agree with the claim). The suite and every threshold are
documented in nashlab.solvers.verify and docs/rules.md.

Exit status 0 when every check passes; otherwise one line on stderr names the first failed check, exit 1. Reports are
cached by fingerprint (a hash of the declaration, the hyper-parameters and the nashlab version) under
$NASHLAB_CACHE_DIR/verify (default ~/.cache/nashlab/verify); --refresh recomputes.

With ``--json`` the last stdout line is one JSON object (docs/json_output.md): ``rule``, ``spec``, ``hparams``,
``fingerprint``, ``passed``, ``behaviour``, ``claim``, ``seconds``, ``cached`` and ``checks``, a list of
``{name, passed, measured, threshold, detail}`` (``passed`` null for a check that cannot run here). ``--out DIR``
also writes the report to ``DIR/verification.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from nashlab.experiments.cli import plain_help
from nashlab.experiments.json_output import JSON_HELP


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("verify", help="check any rule: conformance, faithful, loss ≡ step, LLM realisation, "
                                             "claim, behaviour", description=plain_help(__doc__),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("rule", metavar="RULE", help="a registered name (nashlab solvers), path/to/rule.py:NAME, or an "
                                                "installed 'nashlab.rules' entry point")
    p.add_argument("--eta", type=float, default=None, help="η (default: the rule's, or its η limit at this β if the "
                                                           "default exceeds it)")
    p.add_argument("--beta", type=float, default=None, help="β (default: the rule's)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a rule option, e.g. num_players=4 or lam=0.5,0.5 (repeatable)")
    p.add_argument("--out", default=None, metavar="DIR", help="also write the report to DIR/verification.json")
    p.add_argument("--refresh", action="store_true", help="ignore a cached report and run every check again")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object" + JSON_HELP)
    p.set_defaults(func=run)


def parse_options(items) -> dict:
    """``KEY=VALUE`` strings → a dict: integers, floats, comma lists of floats, else strings."""
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--option takes KEY=VALUE; got {item!r}")
        out[key.strip()] = _value(value.strip())
    return out


def _value(text: str):
    if "," in text:
        return [_value(t) for t in text.split(",") if t.strip()]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def run(args) -> int:
    from nashlab.experiments.json_output import emit_json
    from nashlab.solvers.verify import cached_verify, first_failure

    report = cached_verify(args.rule, args.eta, args.beta, refresh=args.refresh, **parse_options(args.option))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        from nashlab.solvers.verify import _finite

        with open(os.path.join(args.out, "verification.json"), "w", encoding="utf-8") as f:
            json.dump(_finite(report), f, indent=1, allow_nan=False)
    if args.json:
        emit_json(report)
    else:
        print(f"{report['rule']} {json.dumps(report['hparams'])}  fingerprint {report['fingerprint']}"
              f"{'  (cached)' if report.get('cached') else ''}")
        for c in report["checks"]:
            mark = {True: "pass", False: "FAIL", None: "n/a "}[c["passed"]]
            m = "" if c["measured"] is None else f"  {c['measured']:.3g}"
            t = "" if c["threshold"] is None else f" (≤ {c['threshold']:g})"
            print(f"  {mark}  {c['name']:<28}{m}{t}  {c['detail']}")
        print(f"behaviour: {report['behaviour']}; {'passed' if report['passed'] else 'FAILED'} "
              f"in {report['seconds']} s")
    bad = first_failure(report)
    if bad is not None:
        measured = "" if bad["measured"] is None else f": measured {bad['measured']:.4g}"
        limit = "" if bad["threshold"] is None else f" against {bad['threshold']:g}"
        print(f"nashlab verify: {report['rule']} failed check {bad['name']}{measured}{limit} ({bad['detail']})",
              file=sys.stderr)
        return 1
    return 0
