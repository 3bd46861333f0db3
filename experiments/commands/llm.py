"""``nashlab llm train``: the online NLHF loop on a causal LM (nashlab.llm_bridge), configured by a TOML file.

    nashlab llm train --config experiments/configs/llm_tiny.toml --solver egpo --out runs/tiny-egpo --json

Progress goes to stderr; with ``--json`` the last stdout line is one JSON object with ``initial_duality_gap``,
``final_duality_gap``, ``iterations``, ``tokens_per_second`` and the other final metrics.
"""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("llm", help="LLM training with the solvers' losses (llm_bridge)")
    sub = p.add_subparsers(dest="llm_command", metavar="LLM_COMMAND", parser_class=type(p))
    t = sub.add_parser("train", help="run the online loop from a TOML config")
    t.add_argument("--config", required=True, help="TOML run file (see experiments/configs/llm_*.toml)")
    t.add_argument("--solver", default=None, help="override [train] solver (inpo, sppo, egpo, nash-mp, mnpo, ...)")
    t.add_argument("--out", default=None, help="output folder: metrics.csv, tb/, checkpoint/")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    t.add_argument("--iterations", type=int, default=None, help="override [train] iterations")
    t.add_argument("--seed", type=int, default=None, help="override [train] seed")
    t.add_argument("--json", action="store_true", help="print a JSON summary as the last stdout line")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=run)
    p.set_defaults(func=_usage(p))


def _usage(parser):
    def f(args):
        parser.print_help()
        return 2
    return f


def run(args) -> int:
    import json
    import math
    import sys
    import time

    from nashlab.llm_bridge.config import build_run, load_config
    from nashlab.llm_bridge.trainer import OnlineTrainer

    if args.resume and not args.out:
        raise ValueError("--resume needs --out (the folder holding checkpoint/)")
    cfg = load_config(args.config)
    overrides = {}
    if args.iterations is not None:
        overrides["iterations"] = args.iterations
    if args.seed is not None:
        overrides["seed"] = args.seed
    t0 = time.perf_counter()
    r = build_run(cfg, args.solver, overrides)

    def log(m):
        if not args.json:
            keys = ("iteration", "duality_gap", "avg_duality_gap", "reg_duality_gap", "kl_to_nash", "win_rate_vs_ref", "kl_to_ref", "loss")
            print(" ".join(f"{k}={m[k]:.4g}" if isinstance(m[k], float) else f"{k}={m[k]}" for k in keys),
                  flush=True)

    trainer = OnlineTrainer(r.policy, r.judge, r.game, r.train, out_dir=args.out, progress=not args.quiet,
                            log_fn=log)
    history = trainer.train(resume=args.resume)
    first, last = history[0], history[-1]
    tps = [h["tokens_per_second"] for h in history[1:] if math.isfinite(h["tokens_per_second"])]
    summary = {
        "solver": r.train.solver, "hparams": trainer.hparams, "iterations": last["iteration"],
        "initial_duality_gap": first["duality_gap"], "final_duality_gap": last["duality_gap"],
        "initial_reg_duality_gap": first["reg_duality_gap"], "final_reg_duality_gap": last["reg_duality_gap"],
        "initial_kl_to_nash": first["kl_to_nash"], "final_kl_to_nash": last["kl_to_nash"],
        "final_avg_duality_gap": last["avg_duality_gap"], "final_avg_reg_duality_gap": last["avg_reg_duality_gap"],
        "final_win_rate_vs_ref": last["win_rate_vs_ref"], "final_kl_to_ref": last["kl_to_ref"],
        "final_other_mass": last["other_mass"], "final_pi": last["pi"],
        "tokens_per_second": sum(tps) / len(tps) if tps else float("nan"),
        "seconds": time.perf_counter() - t0, "device": str(trainer.accelerator.device), "out": args.out,
    }
    if args.json:
        print(json.dumps(summary, default=float))
    else:
        print(f"duality gap {summary['initial_duality_gap']:.4f} -> {summary['final_duality_gap']:.4f} "
              f"in {summary['iterations']} iterations ({summary['seconds']:.1f} s)", file=sys.stderr)
    return 0
