"""``nashlab llm train``: the online NLHF loop on a causal LM (nashlab.llm_bridge), configured by a TOML file.

    nashlab llm train --config experiments/configs/llm_tiny.toml --solver egpo --out runs/tiny-egpo --json

Progress goes to stderr; with ``--json`` the last stdout line is one JSON object with ``initial_duality_gap``,
``final_duality_gap``, ``iterations``, ``tokens_per_second``, ``seconds_per_iteration`` (mean wall time of an
iteration without its evaluation), ``phase_seconds`` (mean seconds per iteration in generation, scoring, judging,
optimisation and evaluation) and the other final metrics. The rules of the ``--out``
folder (no overwrite without ``--overwrite``, resume only the same config) are in
:mod:`nashlab.llm_bridge.run_folder`.
"""

from __future__ import annotations

import argparse

LLM_DESCRIPTION = """\
Train a causal language model with a solver's own loss on a language game whose Nash equilibrium is known, so the
duality gap of the model's policy is measured exactly every iteration.

  nashlab llm train --config experiments/configs/llm_tiny.toml --solver egpo --out runs/tiny-egpo
"""

TRAIN_DESCRIPTION = """\
Run the online loop (sample, judge, optimise) configured by a TOML file with [model], [game], [judge], [train]
and [solvers.<name>] tables (see experiments/configs/llm_tiny.toml; every key, its type, range and default:
docs/llm_config.md). One line of metrics per iteration goes to stdout (or, with --json, one JSON summary at the end).

[train] num_comparisons (M, comparisons per win-rate estimate) was called opponent_samples: the old name is still
read, with one warning line, and a run folder that records it resumes (the key is renamed in its files).

Without --out nothing is written: no metrics file, no checkpoint, and the run cannot be resumed.
With --out DIR the folder gets config.json, metrics.csv, tb/ (TensorBoard) and checkpoint/:
  --resume     continue the run in DIR from its last checkpoint, with the same config; only
               train.iterations, train.checkpoint_every and train.eval_every may change (the first other
               differing key is named)
  --overwrite  delete the run in DIR first and start again
A folder that already holds a run is never overwritten without --overwrite. Ctrl-C or SIGTERM stops the run
with one line and a non-zero exit, keeping its last checkpoint.
"""

REALISED_STEP_DESCRIPTION = """\
Train the config's run (in memory, nothing written) up to iteration --at, then repeat that one iteration --repeats
times from the same parameters and optimizer state with fresh draws (samples, opponents, epoch order), and compare
each realised change of the action log-policy with the rule's own tabular step from the same point:

  along     mean projection on the rule's step (1: the step is realised; the effective step is along * eta_t)
  along_sd  its spread over the draws
  residual  RMS of the rest, in units of the rule's step (0: nothing but the rule's step)

Over n iterations the drift grows as n * along and independent residuals as sqrt(n) * residual, so along / residual
is the per-iteration signal-to-noise ratio of the run's last iterate. Rules that read past iterates (MNPO, TD-MNPO,
OMWU) have no one-step reference and are refused.

  nashlab llm realised-step --config experiments/configs/llm_tiny.toml --solver inpo --at 2 --repeats 4
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("llm", help="LLM training with the solvers' losses (llm_bridge)",
                              description=LLM_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="llm_command", metavar="LLM_COMMAND", parser_class=type(p))
    t = sub.add_parser("train", help="run the online loop from a TOML config", description=TRAIN_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--config", required=True, help="TOML run file (see experiments/configs/llm_*.toml)")
    t.add_argument("--solver", default=None, help="override [train] solver: a registered rule (nashlab solvers), "
                                                  "path/to/rule.py:NAME or an installed entry point")
    t.add_argument("--unverified", action="store_true",
                   help="train a rule that fails nashlab verify at the run's hyper-parameters (recorded in the run's "
                        "verification.json and in --json)")
    t.add_argument("--trust-rule-files", action="store_true",
                   help="import a rule file named by the config's [train] solver (Python code: refused without "
                        "this flag; a file given with --solver is trusted)")
    t.add_argument("--out", default=None, help="run folder: config.json, metrics.csv, tb/, checkpoint/ "
                                               "(default: write nothing)")
    t.add_argument("--resume", action="store_true", help="continue the run in OUT (same config)")
    t.add_argument("--overwrite", action="store_true", help="delete the run in OUT first")
    t.add_argument("--iterations", type=int, default=None, help="override [train] iterations")
    t.add_argument("--seed", type=int, default=None, help="override [train] seed")
    t.add_argument("--json", action="store_true", help="print a JSON summary as the last stdout line")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=run)
    s = sub.add_parser("realised-step", help="measure how much of the rule's step one iteration realises",
                       description=REALISED_STEP_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--config", required=True, help="TOML run file (see experiments/configs/llm_*.toml)")
    s.add_argument("--solver", default=None, help="override [train] solver (as for llm train)")
    s.add_argument("--trust-rule-files", action="store_true",
                   help="import a rule file named by the config's [train] solver (as for llm train)")
    s.add_argument("--seed", type=int, default=None, help="override [train] seed (of the run up to --at)")
    s.add_argument("--at", type=int, default=0, help="train this many iterations first, then measure iteration AT "
                                                     "(default 0: the untrained model)")
    s.add_argument("--repeats", type=int, default=8, help="draws of iteration AT from the same state (default 8)")
    s.add_argument("--json", action="store_true", help="print the measurement as one JSON line")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=run_realised_step)
    p.set_defaults(func=_usage(p))


def _usage(parser):
    def f(args):
        import sys

        parser.print_usage(sys.stderr)
        return 2
    return f


def _on_main_process(accelerator, fn):
    """``fn()`` on the main process only (it touches the run folder); its result or its refusal reaches every
    process, so no process waits for a peer that gave up."""
    result = [None]
    if accelerator.is_main_process:
        try:
            result = [("ok", fn())]
        except ValueError as exc:
            result = [("error", str(exc))]
    if accelerator.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        broadcast_object_list(result)
    kind, value = result[0]
    if kind == "error":
        raise ValueError(value)
    return value


def _gate(rule, r, args) -> dict:
    """Verify the rule at the run's hyper-parameters (``nashlab verify``, cached by fingerprint) before the first
    iteration; a failing rule is refused in one line unless ``--unverified``."""
    from nashlab.solvers.verify import cached_verify, first_failure

    beta = r.game.beta if r.train.beta is None else r.train.beta
    report = cached_verify(rule, r.train.eta, beta, **r.train.solver_options)
    bad = first_failure(report)
    if bad is not None and not args.unverified:
        raise ValueError(f"rule {rule.name} failed nashlab verify at {report['hparams']}: check {bad['name']} "
                         f"({bad['detail']}); pass --unverified to train it anyway")
    return {**report, "unverified": bad is not None}


def _write_verification(out: str, report: dict) -> None:
    import json
    import os

    from nashlab.solvers.verify import _finite

    from nashlab.llm_bridge.run_folder import VERIFICATION_FILE

    tmp = os.path.join(out, VERIFICATION_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(_finite(report), f, indent=1, allow_nan=False)
    os.replace(tmp, os.path.join(out, VERIFICATION_FILE))


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM stops like Ctrl-C: the iteration is abandoned, the last checkpoint kept


def run(args) -> int:
    import json
    import math
    import signal
    import sys
    import time

    from nashlab.llm_bridge.config import build_run, load_config, model_threads, resolved_config, upgrade_run_folder
    from nashlab.llm_bridge.run_folder import prepare
    from nashlab.llm_bridge.trainer import PHASES_TIMED, OnlineTrainer

    if args.resume and not args.out:
        raise ValueError("--resume needs --out (the folder holding checkpoint/)")
    if args.overwrite and not args.out:
        raise ValueError("--overwrite needs --out (the run folder to replace)")
    cfg = load_config(args.config)  # a RunConfig: every table checked and typed
    if model_threads(cfg) is not None:  # [model] threads: a process-wide setting, made here at the entry point
        import torch

        torch.set_num_threads(model_threads(cfg))
    overrides = {}
    if args.iterations is not None:
        overrides["iterations"] = args.iterations
    if args.seed is not None:
        overrides["seed"] = args.seed
    t0 = time.perf_counter()
    from nashlab.solvers import load_rule

    spec = args.solver if args.solver is not None else cfg.train.solver
    rule = load_rule(spec, trusted=args.solver is not None or args.trust_rule_files)
    whole = resolved_config(cfg, args.solver, overrides, rule.name)
    r = build_run(cfg, args.solver, overrides, rule.name)
    verification = _gate(rule, r, args)

    def log(m):
        if not args.json:
            keys = ("iteration", "duality_gap", "avg_duality_gap", "reg_duality_gap", "kl_to_nash", "win_rate_vs_ref", "kl_to_ref", "loss")
            print(" ".join(f"{k}={m[k]:.4g}" if isinstance(m[k], float) else f"{k}={m[k]}" for k in keys),
                  flush=True)

    trainer = OnlineTrainer(r.policy, r.judge, r.game, r.train, out_dir=args.out, progress=not args.quiet,
                            log_fn=log)
    resume = False
    if args.out:
        def prepare_folder():
            if args.resume:  # a folder of an older nashlab: its deprecated keys renamed first (one stderr line)
                note = upgrade_run_folder(args.out)
                if note:
                    print(note, file=sys.stderr)
            return prepare(args.out, whole, source=args.config, resume=args.resume, overwrite=args.overwrite)

        resume = _on_main_process(trainer.accelerator, prepare_folder)
        if trainer.accelerator.is_main_process:
            _write_verification(args.out, verification)
    # SIGTERM stops like Ctrl-C; a handler the entry point installed already does that
    previous = signal.getsignal(signal.SIGTERM)
    if previous in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        history = trainer.train(resume=resume)
    finally:
        if previous in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    first, last = history[0], history[-1]
    tps = [h["tokens_per_second"] for h in history[1:] if math.isfinite(h["tokens_per_second"])]
    steps = [h for h in history[1:] if "seconds_per_iteration" in h]
    mean = lambda k: sum(h[k] for h in steps) / len(steps) if steps else float("nan")  # noqa: E731
    summary = {
        "solver": r.train.solver, "hparams": trainer.hparams, "iterations": last["iteration"],
        "initial_duality_gap": first["duality_gap"], "final_duality_gap": last["duality_gap"],
        "initial_reg_duality_gap": first["reg_duality_gap"], "final_reg_duality_gap": last["reg_duality_gap"],
        "initial_kl_to_nash": first["kl_to_nash"], "final_kl_to_nash": last["kl_to_nash"],
        "final_avg_duality_gap": last["avg_duality_gap"], "final_avg_reg_duality_gap": last["avg_reg_duality_gap"],
        "final_win_rate_vs_ref": last["win_rate_vs_ref"], "final_kl_to_ref": last["kl_to_ref"],
        "final_other_mass": last["other_mass"], "final_pi": last["pi"],
        "tokens_per_second": sum(tps) / len(tps) if tps else float("nan"),
        "judge_queries": last.get("judge_queries", 0), "generated_tokens": last.get("generated_tokens", 0),
        "seconds_per_iteration": mean("seconds_per_iteration"),
        "phase_seconds": {k: mean(f"seconds_{k}") for k in PHASES_TIMED},
        "seconds": time.perf_counter() - t0, "device": str(trainer.accelerator.device), "out": args.out,
        "verification": {k: verification[k] for k in ("passed", "fingerprint", "unverified")},
    }
    if args.json:
        from nashlab.experiments.json_output import emit_json, ends_from_flat

        emit_json({**summary, **ends_from_flat(summary)})
    else:
        print(f"duality gap {summary['initial_duality_gap']:.4f} -> {summary['final_duality_gap']:.4f} "
              f"in {summary['iterations']} iterations ({summary['seconds']:.1f} s)", file=sys.stderr)
    return 0


def run_realised_step(args) -> int:
    """``nashlab llm realised-step`` (:mod:`nashlab.llm_bridge.realised_step`)."""
    from nashlab.llm_bridge.config import build_run, load_config, model_threads
    from nashlab.llm_bridge.realised_step import realised_steps
    from nashlab.llm_bridge.trainer import OnlineTrainer
    from nashlab.solvers import load_rule

    if args.at < 0:
        raise ValueError(f"--at must be ≥ 0; got {args.at}")
    if args.repeats < 2:
        raise ValueError(f"--repeats must be ≥ 2 (a spread needs two draws); got {args.repeats}")
    cfg = load_config(args.config)
    if model_threads(cfg) is not None:
        import torch

        torch.set_num_threads(model_threads(cfg))
    overrides = {} if args.seed is None else {"seed": args.seed}
    spec = args.solver if args.solver is not None else cfg.train.solver
    rule = load_rule(spec, trusted=args.solver is not None or args.trust_rule_files)
    r = build_run(cfg, args.solver, overrides, rule.name)
    if args.at >= r.train.iterations:  # the run's own iterations: its learning-rate schedule depends on them
        raise ValueError(f"--at must be below the run's iterations ({r.train.iterations}); got {args.at}")
    trainer = OnlineTrainer(r.policy, r.judge, r.game, r.train, progress=not args.quiet)
    trainer.train(stop_after=args.at)
    m = realised_steps(trainer, args.repeats, progress=not args.quiet)
    if args.json:
        from nashlab.experiments.json_output import emit_json

        emit_json({"solver": r.train.solver, "repeats": args.repeats, **m})
    else:
        print(f"{r.train.solver} at iteration {m['iteration']} (eta_t {m['eta']:.4g}), {args.repeats} draws: "
              f"along {m['along']:.3f} ± {m['along_sd']:.3f}, residual {m['residual']:.3f}, "
              f"cosine of the mean step {m['mean_cosine']:.3f}")
    return 0
