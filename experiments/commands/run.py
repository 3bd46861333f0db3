"""``nashlab run [CONFIG] [--out DIR] [--workers N] [--ray [ADDRESS]]``: run (or resume) a sweep, then draw its figures.

With no CONFIG it runs the packaged main job (``experiments/configs/default.toml``) into ``runs/default``. Rerunning
the same command skips finished tasks (a killed run resumes); a different config on the same ``--out`` is refused.
SIGTERM stops a run as Ctrl-C does: finished tasks stay stored, the workers are stopped, one line on stderr, and the
exit status is 128 + the signal number (130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from nashlab.experiments.json_output import JSON_HELP


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="run a sweep (games × solvers × hyper-parameters × seeds) into a results store, then its figures",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("config", nargs="?", default=None,
                   help="sweep config (TOML); default: the packaged main job, default.toml")
    p.add_argument("--out", default=None, help="run directory (default: runs/<config stem>)")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel worker processes (default: the number of CPU cores); with --ray, the CPUs of a "
                        "local Ray runtime")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run the tasks on Ray (pip install 'nashlab[ray]'): a local runtime, or ADDRESS "
                        "('auto', 'ray://host:10001') of a cluster")
    p.add_argument("--trust-rule-files", action="store_true",
                   help="import the rule files (path/to/rule.py:NAME) the config names: they are Python code, so a "
                        "config that names one is refused without this flag")
    p.add_argument("--no-batch", action="store_true", help="run every task alone instead of stacking compatible ones")
    p.add_argument("--no-figs", action="store_true", help="do not draw the figures at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last stdout line" + JSON_HELP)
    p.set_defaults(func=run)


def run(args) -> int:
    from nashlab.experiments.config import config_stem, load_config
    from nashlab.experiments.runner import run_sweep

    cfg = load_config(args.config, trust_rule_files=args.trust_rule_files)
    out = args.out or os.path.join("runs", config_stem(args.config))
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        raise ValueError(f"--workers must be ≥ 1; got {workers}")
    stopped_by: list[int] = []

    def stop(signum, frame):
        stopped_by.append(signum)
        raise KeyboardInterrupt

    main_thread = threading.current_thread() is threading.main_thread()  # signal handlers live in the main thread
    previous = signal.signal(signal.SIGTERM, stop) if main_thread else None
    try:
        summary = run_sweep(cfg, out, workers=workers, ray_address=args.ray if args.ray is not None else False,
                            batch=not args.no_batch, progress=not args.no_progress)
    except KeyboardInterrupt:
        signum = stopped_by[0] if stopped_by else signal.SIGINT
        print(f"nashlab run: stopped by {signal.Signals(signum).name}; finished tasks are kept in "
              f"{os.path.join(out, 'results.sqlite')}: rerun the same command to resume", file=sys.stderr)
        return 128 + signum
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    msg = (f"{summary['tasks']} tasks ({summary['skipped']} already stored, {summary['ran']} run in "
           f"{summary['batches']} batches) in {summary['wall_s']:.1f} s -> {out}/results.sqlite")
    print(msg, file=sys.stderr)
    if not args.no_figs:
        from nashlab.paper_figs import write_figures

        paths = write_figures(out, workers=min(workers, 4) if args.ray is None else 1)
        summary["figures"] = [str(p) for p in paths]
        print(f"{len(paths)} figure files -> {os.path.join(out, 'figs')}", file=sys.stderr)
    if args.json:
        from nashlab.experiments.json_output import emit_json

        emit_json(summary)
    else:
        print(f"results: {out}/results.sqlite   report: nashlab report {out}")
    return 0
