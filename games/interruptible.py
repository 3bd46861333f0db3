"""Run a long numerical call where Ctrl-C can stop it: in a forked child that the parent kills on interrupt.

A LAPACK factorisation or a HiGHS solve holds the interpreter for its whole duration, so a ``KeyboardInterrupt``
raised by SIGINT waits until it returns (minutes for a simplex LP at n = 2,000). The parent here only waits on a pipe
in short polls, so SIGINT reaches it within ~0.1 s; it then kills the child (SIGKILL) and re-raises. The child also
asks the kernel to kill it when the parent dies (``PR_SET_PDEATHSIG``), so a SIGKILL of the parent leaves no orphan,
and ignores SIGINT itself (a terminal's Ctrl-C reaches the whole process group; the parent decides).

The child is forked, so it sees the parent's arrays without copying them; the result comes back through a pipe
between the two processes (never from a file).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import warnings

#: How often the parent wakes up while it waits (seconds): the latency of Ctrl-C.
POLL_S = 0.05


def _set_parent_death_signal() -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the parent's kill on interrupt still holds
            pass


def _child(conn, parent_pid, fn, args):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ("ok", fn(*args))
        except Exception as exc:  # noqa: BLE001 - re-raised in the parent with its type and message
            result = ("error", (type(exc).__name__, str(exc)))
    conn.send((result, [(str(w.message), w.category.__name__) for w in caught]))
    conn.close()


_ERRORS = {"ValueError": ValueError, "MemoryError": MemoryError, "ArithmeticError": ArithmeticError,
           "FloatingPointError": FloatingPointError, "ZeroDivisionError": ZeroDivisionError}
_WARNINGS = {"RuntimeWarning": RuntimeWarning, "UserWarning": UserWarning}


def call_interruptible(fn, *args):
    """``fn(*args)`` in a forked child; returns its result, re-raises its exception (as ``RuntimeError`` unless it
    is a ``ValueError`` or an arithmetic/memory error) and re-emits its warnings. On ``KeyboardInterrupt`` (or any
    exception) in the parent the child is killed and reaped before the exception propagates."""
    if "fork" not in multiprocessing.get_all_start_methods():  # pragma: no cover - not Linux/macOS
        return fn(*args)
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, os.getpid(), fn, args), daemon=True)
    proc.start()
    send.close()
    try:
        while not recv.poll(POLL_S):
            if not proc.is_alive() and not recv.poll(0):
                proc.join()
                raise RuntimeError(f"the solver's process ended without an answer (exit status {proc.exitcode})")
        (status, payload), caught = recv.recv()
    except BaseException:
        if proc.is_alive():
            proc.kill()
        proc.join()
        raise
    finally:
        recv.close()
    proc.join()
    for message, category in caught:
        warnings.warn(message, _WARNINGS.get(category, RuntimeWarning), stacklevel=3)
    if status == "error":
        name, message = payload
        raise _ERRORS.get(name, RuntimeError)(message)
    return payload
