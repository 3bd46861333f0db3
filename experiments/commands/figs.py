"""``nashlab figs DIR [--figs-dir OUT]``: draw every paper figure of a run directory into ``DIR/figs`` (PNG and PDF).

The store is only read, so DIR may be read-only (an archive, a shared mount); the figures then need another folder:
``--figs-dir OUT``. Without it, a DIR/figs that cannot be written is refused in one line before anything is drawn.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from nashlab.experiments.json_output import JSON_HELP


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("figs", help="draw the figures of a run (DIR/figs/*.png, *.pdf)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("dir", help="run directory (holds results.sqlite)")
    p.add_argument("--figs-dir", default=None, metavar="OUT",
                   help="write the figures into OUT instead of DIR/figs (e.g. when DIR is read-only)")
    p.add_argument("--json", action="store_true", help="print the written paths as JSON on the last line" + JSON_HELP)
    p.add_argument("--workers", type=int, default=None, help="processes drawing figures (default: CPU cores, ≤ 4)")
    p.set_defaults(func=run)


def _writable_folder(folder: Path, hint: str) -> None:
    """Create ``folder`` if needed and check that files can be written in it; raise a one-line ``ValueError``."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"cannot write figures into {folder}: it is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot write figures into {folder}: {exc.strerror}{hint}") from None
    # os.access also sees a read-only file system (EROFS), for root as well.
    if not os.access(folder, os.W_OK):
        raise ValueError(f"cannot write figures into {folder}: it is not writable{hint}")


def run(args) -> int:
    from nashlab.experiments.store import DB_NAME
    from nashlab.paper_figs import write_figures

    workers = args.workers if args.workers is not None else min(os.cpu_count() or 1, 4)
    if workers < 1:
        raise ValueError(f"--workers must be ≥ 1; got {workers}")
    if not (Path(args.dir) / DB_NAME).is_file():
        raise FileNotFoundError(f"no results store at {Path(args.dir) / DB_NAME} (run `nashlab run` with --out "
                                f"{args.dir})")
    out = Path(args.figs_dir) if args.figs_dir is not None else Path(args.dir) / "figs"
    _writable_folder(out, "" if args.figs_dir is not None else "; pass --figs-dir OUT to write them elsewhere")
    paths = write_figures(args.dir, workers=workers, figs_dir=out)
    if args.json:
        from nashlab.experiments.json_output import emit_json

        emit_json({"figures": [str(p) for p in paths]})
    else:
        for p in paths:
            print(p)
    print(f"{len(paths)} files in {out}", file=sys.stderr)
    return 0
