"""``nashlab solve --game SPEC --solver NAME [...]``: run one solver on one game and report its equilibrium metrics.

Examples::

    nashlab solve --game egpo:n=10,seed=3 --ref random:seed=3 --solver egpo --beta 0.01 --eta 0.8 --iters 1000 --json
    nashlab solve --game cyclic:n=5 --solver mnpo --num-players 4 --init random:seed=1 --eta 0.05 --iters 2000
    nashlab solve --game contextual:contexts=64 --solver egpo --beta 0.1 --policy mlp --iters 100

With ``--json`` the last line of stdout is one JSON object (docs/json_output.md: ``schema_version``, and
``warnings`` naming each NaN or infinite value, written null): ``solver``, ``hparams`` (with ``schedule``), ``queries``
(judge queries: comparisons for sampled feedback, win-rate vectors for exact), ``samples`` (generated opponents),
``policy`` (final last iterate), ``initial`` and ``final`` (at iteration 0 and at the end: ``duality_gap``,
``reg_duality_gap``, ``kl_to_nash`` and their ``avg_`` versions; for n-player rules ``multiplayer_duality_gap``),
``trace`` (cumulative ``queries`` and ``samples`` and the
same metrics every ``--every`` iterations, at most ~1,000 records) and ``nash_unique`` (false where the β = 0 game has
a set of equilibria: ``kl_to_nash`` is then null).

Sampled feedback: ``--feedback sampled:M,labels=soft,estimator=shared`` (see ``--help``); step sizes:
``--schedule theory`` (``--eta`` is then η_0).
"""

from __future__ import annotations

import argparse
import math
import sys

from nashlab.experiments.cli import plain_help
from nashlab.experiments.json_output import JSON_HELP


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("solve", help="run one solver on one game; print DG_0, DG_β and KL(π*_β‖π_T)",
                              description=plain_help(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--game", required=True, help="game spec: NAME:k=v,..., contextual:..., openspiel:NAME, or a path")
    p.add_argument("--solver", required=True, help="registry name (mwu, sppo, inpo, nash-md, egpo, nash-mp, omwu, "
                                                   "mmd, mnpo, td-mnpo)")
    p.add_argument("--beta", type=float, default=None, help="KL weight β (default: the game's β)")
    p.add_argument("--eta", type=float, default=None, help="step η (default: the solver's documented default)")
    p.add_argument("--iters", type=_count, default=1000,
                   help="iterations T, at most 10,000,000 (default 1000; 1e5 is accepted)")
    p.add_argument("--ref", default=None, help="reference policy: uniform, random:seed=S[,scale=σ], or a path")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the sampled oracle and the MLP, 0 ≤ S < 2**63 (default 0)")
    p.add_argument("--feedback", default="exact",
                   help="exact or sampled:M[,labels=hard|soft][,estimator=iid|shared|reuse] (M comparisons per action "
                        "per call; labels: the judge's verdict or its probability; estimator: each action's own "
                        "opponents, one shared set, or the previous call's set importance-weighted)")
    p.add_argument("--schedule", default="constant",
                   help="step size η_t: constant, inverse-t (η/(1+βηt)), inverse-sqrt-t (η/√(1+t)) or theory (the "
                        "rule's prescription under noise); --eta is η_0")
    p.add_argument("--policy", default="tabular", choices=["tabular", "mlp"], help="policy class")
    p.add_argument("--num-players", "--players", type=int, default=None, dest="num_players",
                   action=_OldSpelling, help="number of players N (mnpo; td-mnpo history N−1); --players is the old "
                                             "spelling, still accepted")
    p.add_argument("--init", default="ref", help="starting policy: ref, uniform or random:seed=S")
    p.add_argument("--every", type=_count, default=10,
                   help="record metrics every K iterations (default 10; raised to keep at most ~1,000 records)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads, 1 to 4 per CPU core (default: 1 for small CPU games)")
    p.add_argument("--json", action="store_true",
                   help="print the result as one JSON object on the last line" + JSON_HELP)
    p.set_defaults(func=run)


class _OldSpelling(argparse.Action):
    """Stores the value; when the option was given under a spelling other than its first (e.g. ``--players`` for
    ``--num-players``), says once on stderr that the spelling is old, naming the new one."""

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string != self.option_strings[0]:
            print(f"nashlab: {option_string} is deprecated; use {self.option_strings[0]}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _count(text: str) -> int:
    """An iteration count: an integer, also written as ``1e5`` (an integral number)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None
    if not (math.isfinite(value) and value == int(value)):
        raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}")
    return int(value)


def _summary(value, unit: str = "game") -> str:
    """One line per metric: a number, or for a batch (one value per ``unit``, a context or a game) its mean and worst
    entry."""
    import numpy as np

    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return "undefined (equilibrium not unique)" if np.isnan(arr) else f"{float(arr):.3e}"
    flat = arr.reshape(-1)
    if np.isnan(flat).all():
        return "undefined (equilibrium not unique)"
    worst = int(np.nanargmax(flat))
    where = np.unravel_index(worst, arr.shape)
    return (f"mean {np.nanmean(flat):.3e}, worst {flat[worst]:.3e} ({unit} {', '.join(map(str, where))}; "
            f"{flat.size} values, --json lists them)")


def run(args) -> int:
    import numpy as np

    from nashlab.games import ContextualGame
    from nashlab.games.preference import validate_seed
    from nashlab.games.spec import parse_game_spec, parse_ref_spec
    from nashlab.solvers import solve
    from nashlab.solvers.solve import MAX_ITERS, MAX_THREADS

    seed = validate_seed(args.seed, name="--seed")
    if not 0 <= args.iters <= MAX_ITERS:
        raise ValueError(f"--iters must be an integer in [0, {MAX_ITERS:,}]; got {args.iters}")
    if args.every < 1:
        raise ValueError(f"--every must be an integer ≥ 1; got {args.every}")
    if args.threads is not None and not 1 <= args.threads <= MAX_THREADS:
        raise ValueError(f"--threads must be an integer in [1, {MAX_THREADS}] (4 per CPU core, at most 1024); "
                         f"got {args.threads}")
    game = parse_game_spec(args.game)
    if args.ref is not None:
        base = game.game if isinstance(game, ContextualGame) else game
        base = base.with_ref(parse_ref_spec(args.ref, base.n, base.batch_shape))
        game = ContextualGame(base, game.features) if isinstance(game, ContextualGame) else base
    res = solve(game, args.solver, eta=args.eta, beta=args.beta, iters=args.iters, every=args.every,
                feedback=args.feedback, seed=seed, init=args.init, policy=args.policy,
                num_players=args.num_players, device=args.device, threads=args.threads, progress=True,
                schedule=args.schedule)
    if not np.all(res.nash_unique):
        unique = np.asarray(res.nash_unique)
        which = "" if unique.ndim == 0 else f" in {int((~unique).sum())} of {unique.size} games"
        print(f"nashlab solve: warning: the β = 0 equilibrium is not unique{which} (a set of policies with Pπ ≤ ½); "
              "kl_to_nash is undefined there (null), DG_0 measures convergence", file=sys.stderr)
    warnings: list[str] = []
    out = res.to_json(warnings)
    out["game"] = getattr(game, "name", None) or getattr(getattr(game, "game", None), "name", None)
    if args.json:
        from nashlab.experiments.json_output import emit_json

        # initial: the metrics at iteration 0 (the trace's first record), with final's names; placed before final
        initial = {k: res.trace[k][0] for k in res.final if res.trace.get(k)}
        emit_json({**{k: v for k, v in out.items() if k not in ("final", "trace", "nash_unique", "game")},
                   "initial": initial, **{k: out[k] for k in ("final", "trace", "nash_unique", "game")}},
                  warnings=warnings)
    else:
        print(f"{res.solver} on {out['game']}  ({', '.join(f'{k}={v}' for k, v in res.hparams.items())})")
        for k, v in res.final.items():
            print(f"  {k:28s} {_summary(v, 'context' if isinstance(game, ContextualGame) else 'game')}")
        print(f"  queries                      {res.queries}")
        print(f"  samples                      {res.samples}")
    return 0
