"""Run the ``nashlab`` CLI in-process on an attacker's input and classify what happened.

The CLI's contract, which every attack test checks through :func:`invoke`:

- exit 0, and with ``--json`` the last stdout line is one strict JSON object (no ``NaN``/``Infinity`` tokens);
- or exit 2 (a refused input) with exactly one line on stderr;
- or exit 1 with one ``failed:`` line (a numerical routine that failed on an accepted input);
- never a traceback, never longer than a set time.

An outcome's ``kind`` is one of :data:`CLEAN` (``ok``, ``refused``, ``failed``) or a defect (``traceback``, ``hang``,
``bad-json``, ``multi-line``, ``unexpected-exit``). With ``NASHLAB_ATTACK_LOG=FILE`` every outcome is appended to FILE
as a JSON line, so that a campaign (the ``thorough`` hypothesis profile) can be tallied afterwards with
``python tests/attack/attack_harness.py FILE``.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import asdict, dataclass, field

CLEAN = ("ok", "refused", "failed")


class _Hang(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` in the CLI swallows it."""


@dataclass
class Outcome:
    argv: list[str]
    code: int | None
    out: str
    err: str
    seconds: float
    kind: str
    detail: str = field(default="")

    @property
    def clean(self) -> bool:
        return self.kind in CLEAN

    def explain(self) -> str:
        return (f"nashlab {' '.join(self.argv)}\n-> {self.kind} (exit {self.code}, {self.seconds:.1f} s) {self.detail}\n"
                f"--- stderr ---\n{self.err[-3000:]}\n--- stdout (tail) ---\n{self.out[-1500:]}")


def _strict_json(line: str) -> dict:
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    value = json.loads(line, parse_constant=refuse)
    if not isinstance(value, dict):
        raise ValueError(f"last line is JSON {type(value).__name__}, not an object")
    return value


def classify(argv: list[str], code, out: str, err: str) -> tuple[str, str]:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if "Traceback (most recent call last)" in err:
        return "traceback", "a traceback on stderr"
    if code == 0:
        if "--json" in argv:
            tail = out.strip().splitlines()
            if not tail:
                return "bad-json", "--json printed nothing"
            try:
                _strict_json(tail[-1])
            except ValueError as exc:
                return "bad-json", str(exc)
        return "ok", ""
    if code == 2:
        return ("refused", "") if len(lines) == 1 else ("multi-line", f"{len(lines)} stderr lines")
    if code == 1:
        if len(lines) == 1 and "failed" in lines[0]:
            return "failed", ""
        return "multi-line", f"exit 1 with {len(lines)} stderr lines"
    return "unexpected-exit", f"exit {code!r}"


def invoke(argv: list[str], limit: float = 30.0) -> Outcome:
    """``nashlab ARGV`` in this process, stdout/stderr captured, stopped by SIGALRM after ``limit`` seconds."""
    from nashlab.experiments import cli

    out, err = io.StringIO(), io.StringIO()

    def on_alarm(signum, frame):
        raise _Hang()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    t0 = time.perf_counter()
    code, kind, detail = None, None, ""
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = cli.main(list(argv))
            except SystemExit as exc:  # argparse's own refusals and --help
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except _Hang:
        kind, detail = "hang", f"still running after {limit:.0f} s"
    except BaseException as exc:  # noqa: BLE001 - anything that escapes the CLI is the defect we look for
        kind, detail = "traceback", "".join(traceback.format_exception(exc))[-3000:]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    seconds = time.perf_counter() - t0
    if kind is None:
        kind, detail = classify(list(argv), code, out.getvalue(), err.getvalue())
    outcome = Outcome(list(argv), code, out.getvalue(), err.getvalue(), seconds, kind, detail)
    _log(outcome)
    return outcome


def _log(outcome: Outcome) -> None:
    path = os.environ.get("NASHLAB_ATTACK_LOG")
    if not path:
        return
    row = asdict(outcome)
    row["out"], row["err"] = row["out"][-500:], row["err"][-500:]
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


def tally(path: str) -> dict[str, dict[str, int]]:
    """Count a campaign log's outcomes per verb and kind."""
    table: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            argv = row["argv"]
            verb = " ".join(argv[:2]) if argv[:1] == ["llm"] else (argv[0] if argv else "")
            counts = table.setdefault(verb, {})
            counts[row["kind"]] = counts.get(row["kind"], 0) + 1
    return table


if __name__ == "__main__":  # python tests/attack/attack_harness.py LOG: the campaign's table
    kinds = ["ok", "refused", "failed", "traceback", "hang", "bad-json", "multi-line", "unexpected-exit"]
    table = tally(sys.argv[1])
    print("| verb | cases | " + " | ".join(kinds) + " |")
    print("|---" * (len(kinds) + 2) + "|")
    for verb, counts in sorted(table.items()):
        print(f"| {verb} | {sum(counts.values())} | " + " | ".join(str(counts.get(k, 0)) for k in kinds) + " |")
