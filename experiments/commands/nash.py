"""``nashlab nash``: the exact (β = 0) or regularised (β > 0) Nash equilibrium of a game, with its gaps.

Examples::

    nashlab nash --game cyclic:n=5
    nashlab nash --game egpo:n=10,seed=3 --beta 0.05 --ref random:seed=1 --json
    nashlab nash --game experiments/examples/preferences.csv --json | tail -n 1 | jq .duality_gap

With ``--json`` the last stdout line is one JSON object (docs/json_output.md: ``schema_version``, and ``warnings``
naming each NaN or infinite value, written null):

* ``policy`` — the equilibrium: the maximal lottery (LP) for β = 0, ``π*_β`` for β > 0 (list of floats; a list of
  lists for a batch / contextual game, one row per game);
* ``duality_gap`` — ``DG_0(policy)`` (for β > 0 this is the original game's gap of ``π*_β``, not 0);
* ``reg_duality_gap`` — ``DG_β(π*_β)`` (β > 0 only);
* ``nash_policy`` / ``nash_duality_gap`` — the β = 0 equilibrium and its gap (β > 0 only, for comparison);
* ``fixed_point_residual`` — ``max |ℓ − ℓ_ref − Pπ/β − c|`` of ``π*_β`` (β > 0 only);
* ``certificate`` — ``{duality_gap, residual, method}`` of ``policy``, recomputed from P and the policy alone:
  ``DG_0`` and ``max_y π_y |(Pπ)_y − ½|`` (β = 0), ``DG_β`` and ``min_c ‖log π − log π_ref − Pπ/β + c‖_∞`` (β > 0),
  and the method that produced it, naming any fallback (see :class:`nashlab.games.nash.Certificate`);
* ``nash_unique`` — whether ``policy`` is the game's only equilibrium (always true for β > 0; at β = 0 the equilibria
  are every π with ``Pπ ≤ ½``, sometimes more than one; a list for a batch);
* ``support`` (indices with probability > 1e-9), ``value`` (the game value ½), ``max_win_rate``
  (``max_y (Pπ)_y``), ``game``, ``n``, ``beta``, ``ref``, ``seconds``;
* ``condorcet_winner`` (an index or null), ``cycles3`` (cyclic triples), ``cyclic_share`` (the cyclic part's share
  in the Hodge decomposition), see :mod:`nashlab.games.structure`; for measured data also ``items`` (the names) and,
  for count data, ``bootstrap``: per-item percentile intervals ``low``/``high`` of the β = 0 equilibrium over
  ``--bootstrap`` resampled comparison sets and ``support_same``, the share of resamples with the same support.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from nashlab.experiments.cli import plain_help
from nashlab.experiments.json_output import JSON_HELP

#: An action is "in the support" when its probability exceeds this (display and the ``support`` key only).
SUPPORT_TOL = 1e-9


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "nash",
        help="solve a game: exact Nash (β = 0) or regularised Nash π*_β (β > 0), with duality gaps",
        description=plain_help(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--game", required=True, metavar="SPEC",
                   help="generator spec (cyclic:n=5, egpo:n=10,seed=3, ...), contextual:..., openspiel:NAME, "
                        "or a path to a .npy/.json/.csv matrix; nashlab games lists the generators")
    p.add_argument("--beta", type=float, default=None, metavar="B",
                   help="KL weight β ≥ 0 (default: the game's own, 0 unless a .json file sets it)")
    p.add_argument("--ref", default=None, metavar="REF",
                   help="reference policy: uniform (default for matrices), random:seed=S[,scale=σ], or a .npy vector "
                        "path (default: the game's own π_ref, e.g. a contextual game's)")
    p.add_argument("--bootstrap", type=int, default=200, metavar="B",
                   help="for count data (data:NAME, counts:PATH, PrefLib ballots): B resampled comparison sets for "
                        "the equilibrium's intervals (default 200, 0 = off); seeded by --bootstrap-seed (default 0)")
    p.add_argument("--bootstrap-seed", type=int, default=0, metavar="S",
                   help="seed of the bootstrap's resampling (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line" + JSON_HELP)
    p.add_argument("--top", type=int, default=20, metavar="K",
                   help="largest probabilities to print per game in the text output (default 20)")
    p.set_defaults(func=run)


def _residual(P, log_pi, pi_ref, beta):
    """``max |F − mean F|`` with ``F = log π − log π_ref − Pπ/β`` (0 at ``π*_β``), ``[...]``.

    Takes ``log π`` (not π): at small β entries of ``π*_β`` underflow to 0 while their logs stay finite.
    """
    import numpy as np

    F = log_pi - np.log(pi_ref) - np.einsum("...ij,...j->...i", P, np.exp(log_pi)) / beta
    return np.abs(F - F.mean(-1, keepdims=True)).max(-1)


def solve_game(game, beta: float, pi_ref):
    """Equilibrium and metrics of a (batch of) game(s) as a dict of numpy arrays / floats (the CLI's JSON keys)."""
    import numpy as np

    from nashlab.games import duality_gap, exact_nash, reg_duality_gap, regularized_nash

    P = game.P
    out = {}
    nash, out["certificate"] = exact_nash(P, return_certificate=True)  # the policy's: replaced below when β > 0
    if beta > 0:
        pi, log_pi, out["certificate"] = regularized_nash(P, pi_ref=pi_ref, beta=beta, return_log=True,
                                                          return_certificate=True)
        out["policy"] = pi
        out["duality_gap"] = np.asarray(duality_gap(P, pi))
        out["reg_duality_gap"] = np.asarray(reg_duality_gap(P, pi, pi_ref, beta))
        out["fixed_point_residual"] = _residual(P, log_pi, pi_ref, beta)
        out["nash_policy"] = nash
        out["nash_duality_gap"] = np.asarray(duality_gap(P, nash))
    else:
        pi = nash
        out["policy"] = pi
        out["duality_gap"] = np.asarray(duality_gap(P, pi))
    out["max_win_rate"] = np.einsum("...ij,...j->...i", P, pi).max(-1)
    return out


def _tolist_bool(x):
    import numpy as np

    arr = np.asarray(x, dtype=bool)
    return bool(arr) if arr.ndim == 0 else arr.tolist()


def _tolist(x):
    import numpy as np

    arr = np.asarray(x, dtype=float)
    return arr.item() if arr.ndim == 0 else arr.tolist()


def _print_single(name, n, beta, res, idx, top, unique: bool = True) -> None:
    import numpy as np

    pick = (lambda k: res[k]) if idx is None else (lambda k: res[k][idx])
    pi = np.asarray(pick("policy"))
    support = np.flatnonzero(pi > SUPPORT_TOL)
    order = np.argsort(-pi, kind="stable")[: max(top, 0)]
    kind = "regularised Nash π*_β" if beta > 0 else "Nash equilibrium (maximal lottery, LP)"
    print(f"{kind}:")
    print(f"  support ({support.size} of {n}): {', '.join(map(str, support[:50]))}{' …' if support.size > 50 else ''}")
    print("  action  probability")
    for a in order:
        if pi[a] <= SUPPORT_TOL and beta == 0:
            break
        print(f"  {a:>6}  {pi[a]:.10f}")
    if len(order) < n:
        print(f"  … ({n - len(order)} more; use --top or --json)")
    print(f"  value ½; max_y (Pπ)_y = {float(pick('max_win_rate')):.12f}")
    print(f"  duality gap DG_0 = {float(pick('duality_gap')):.3e}")
    if beta == 0 and not unique:
        from nashlab.games.equilibrium_set import equilibrium_set

        print(f"  not unique: the equilibria are every π with Pπ ≤ ½, a set of dimension "
              f"{equilibrium_set(pick('P')).dimension}; this is one vertex of it")
    if beta > 0:
        print(f"  regularised gap DG_β = {float(pick('reg_duality_gap')):.3e}   "
              f"fixed-point residual = {float(pick('fixed_point_residual')):.3e}")
        print(f"  (exact Nash, β = 0: DG_0 = {float(pick('nash_duality_gap')):.3e}, "
              f"support {int((np.asarray(pick('nash_policy')) > SUPPORT_TOL).sum())} of {n})")


def run(args) -> int:
    import time

    import numpy as np

    from nashlab.games import ContextualGame, parse_game_spec, parse_ref_spec, validate_beta
    from nashlab.games.structure import structure_report

    if not (isinstance(args.top, int) and args.top >= 0):
        raise ValueError(f"--top must be an integer ≥ 0; got {args.top!r}")
    from nashlab.games.preference import validate_seed

    validate_seed(args.bootstrap_seed, name="--bootstrap-seed")
    game = parse_game_spec(args.game)
    features = None
    if isinstance(game, ContextualGame):
        features = game.features
        game = game.game
    beta = game.beta if args.beta is None else validate_beta(args.beta, name="--beta")
    if args.ref is None:  # the game's own reference: uniform for matrices, per-context for contextual games
        ref_name = "uniform" if np.all(game.pi_ref == 1.0 / game.n) else "game"
    else:
        game = game.with_ref(parse_ref_spec(args.ref, game.n, game.batch_shape))
        ref_name = args.ref
    game = game.with_beta(beta)
    pi_ref = np.broadcast_to(game.pi_ref, game.P.shape[:-1])

    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = solve_game(game, beta, pi_ref)
    except (RuntimeError, ArithmeticError, MemoryError) as exc:  # a solver failure is reported, never a traceback
        raise ValueError(f"could not solve {game.name} at beta={beta:g}: {type(exc).__name__}: {exc}") from None
    for w in caught:  # e.g. a near-degenerate LP: one line each on stderr, the gap is in the output anyway
        if issubclass(w.category, RuntimeWarning) and "exact_nash" in str(w.message):
            print(f"nashlab nash: warning: {w.message}", file=sys.stderr)
    seconds = time.perf_counter() - t0
    unique = np.ones(game.batch_shape, dtype=bool)  # π*_β (β > 0) is always unique
    if beta == 0:
        from nashlab.games.equilibrium_set import equilibrium_unique

        unique = equilibrium_unique(game.P)
        if (args.json or game.batch_shape) and not unique.all():  # a single game's text output says it itself
            which = f"{int((~unique).sum())} of {unique.size} games have" if game.batch_shape else f"{game.name} has"
            print(f"nashlab nash: warning: {which} more than one equilibrium (every π with Pπ ≤ ½); the policy is one "
                  "of them", file=sys.stderr)

    batched = bool(game.batch_shape)
    out = {
        "game": game.name, "n": game.n, "beta": beta, "ref": ref_name, "value": 0.5,
        "batch_shape": list(game.batch_shape) if batched else None,
    }
    out["certificate"] = res.pop("certificate").as_dict()  # {duality_gap, residual, method} of the policy
    for key, value in res.items():
        out[key] = _tolist(value)
    pol = np.asarray(res["policy"])
    out["support"] = (
        [np.flatnonzero(row > SUPPORT_TOL).tolist() for row in pol.reshape(-1, game.n)] if batched
        else np.flatnonzero(pol > SUPPORT_TOL).tolist()
    )
    out["seconds"] = seconds
    out["nash_unique"] = _tolist_bool(unique)
    # condorcet_winner, cycles3, cyclic_share; items and the equilibrium's bootstrap for count data
    out.update(structure_report(game.P, args.game, resamples=args.bootstrap, seed=args.bootstrap_seed))

    # Text summary (to stdout; with --json it precedes the JSON line).
    if not args.json:
        print(f"game: {game.name}  (n = {game.n}, β = {beta:g}, π_ref = {ref_name}"
              f"{', batch ' + 'x'.join(map(str, game.batch_shape)) if batched else ''})")
        if batched:
            flat = {k: np.asarray(v).reshape(-1, *np.asarray(v).shape[len(game.batch_shape):]) for k, v in res.items()}
            B = flat["policy"].shape[0]
            head = f"{'game':>6} {'support':>8} {'DG_0':>10}" + (f" {'DG_β':>10}" if beta > 0 else "") + "  top actions"
            print(head)
            for b in range(B):
                pi = flat["policy"][b]
                top = np.argsort(-pi, kind="stable")[:3]
                line = f"{b:>6} {int((pi > SUPPORT_TOL).sum()):>8} {float(flat['duality_gap'][b]):>10.2e}"
                if beta > 0:
                    line += f" {float(flat['reg_duality_gap'][b]):>10.2e}"
                line += "  " + ", ".join(f"{a}:{pi[a]:.3f}" for a in top)
                print(line)
            worst = float(flat["reg_duality_gap" if beta > 0 else "duality_gap"].max())
            print(f"max {'DG_β' if beta > 0 else 'DG_0'} over the batch: {worst:.3e}  ({seconds:.2f} s)")
        else:
            _print_single(game.name, game.n, beta, {**res, "P": game.P}, None, args.top, bool(unique))
            print(f"  Condorcet winner {out['condorcet_winner']}, cyclic triples {out['cycles3']}, "
                  f"cyclic share {out['cyclic_share'] if out['cyclic_share'] is None else round(out['cyclic_share'], 4)}")
            if out.get("bootstrap"):
                print(f"  bootstrap: the same support in {out['bootstrap']['support_same']:.0%} of "
                      f"{out['bootstrap']['resamples']} resampled comparison sets (per-item intervals: --json)")
            print(f"  solved in {seconds:.2f} s")
    else:
        from nashlab.experiments.json_output import emit_json

        emit_json(out)
    sys.stdout.flush()
    return 0
