"""The ``nashlab`` command: one entry point, one module per subcommand under ``experiments/commands``.

Each subcommand module defines ``add_parser(subparsers)`` (which registers its options and sets ``func``) and keeps
its own imports lazy, so ``nashlab nash`` does not pay for importing transformers. Errors the user can fix
(``ValueError``, ``FileNotFoundError``, …) are printed as one line on stderr with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import re
import signal
import sys
import threading

#: Subcommand modules, in the order ``nashlab --help`` lists them.
COMMANDS = ["run", "solve", "nash", "games", "solvers", "verify", "report", "figs", "bench", "llm"]

#: Exit status for a refused input (argparse itself uses 2 for malformed command lines).
EXIT_BAD_INPUT = 2


def plain_help(doc: str) -> str:
    """A docstring as plain text for ``--help``: reST markup dropped (````x```` → x, ``:func:`~a.b``` → b, a
    closing ``::`` → ``:``), so a terminal shows what a reader of the source sees rendered."""
    text = re.sub(r":[a-z]+:`~?([^`]*?)`", lambda m: m.group(1).rsplit(".", 1)[-1] if "~" in m.group(0) else m.group(1),
                  doc or "")
    text = re.sub(r"``([^`]+)``", r"\1", text)
    return re.sub(r"::$", ":", text, flags=re.M).strip()


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds like Ctrl-C (finally blocks, one stderr line)."""


def _on_sigterm(signum, frame):
    raise _Terminated()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump: scripts grep stderr
        self.exit(EXIT_BAD_INPUT, f"nashlab: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nashlab", description="Nash learning from human feedback: games, solvers, experiments.")
    from nashlab import __version__

    parser.add_argument("--version", action="version", version=f"nashlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        # A missing module is a packaging bug (it once hid `nashlab run` in wheels): let it raise.
        importlib.import_module(f"nashlab.experiments.commands.{name}").add_parser(sub)
    _plain(parser)
    return parser


def _plain(parser: argparse.ArgumentParser) -> None:
    """Apply :func:`plain_help` to every description and help string, subcommands included: most are written as
    reST in docstrings, and ``--help`` must not show the markup."""
    if parser.description:
        parser.description = plain_help(parser.description)
    for action in parser._actions:
        if isinstance(action.help, str):
            action.help = plain_help(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if isinstance(choice.help, str):
                    choice.help = plain_help(choice.help)
            for sub in action.choices.values():
                _plain(sub)


def one_line(msg, limit: int = 600) -> str:
    """A message as one line: an embedded newline (a library's message may quote a file's text) would break the
    contract that a refusal is exactly one stderr line; overlong quotes are cut."""
    text = " ".join(str(msg).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    # Only the main thread may set handlers (a test or an embedding application may call main() from another).
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"nashlab {args.command}: error: {one_line(msg)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ImportError as exc:
        # An optional package (the llm, openspiel, ray… extras) is missing: one line naming the extra to install.
        from nashlab.extras import missing_extra

        hint = missing_extra(exc)
        if hint is None:
            raise
        print(f"nashlab {args.command}: error: {hint}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # `nashlab report DIR | head`: the reader left; silence the flush at exit as well.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (RuntimeError, OSError, MemoryError) as exc:
        # A routine that failed on accepted input (an LP solver's status, a full disk, memory): one line, exit 1.
        what = "out of memory" if isinstance(exc, MemoryError) else one_line(exc)
        print(f"nashlab {args.command}: failed: {what}", file=sys.stderr)
        return 1
    except _Terminated:
        print(f"nashlab {args.command}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(f"nashlab {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
