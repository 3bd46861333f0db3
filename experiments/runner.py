"""The sweep runner: expand a config into batches, skip finished ones, execute the rest, store each as it finishes.

Execution backends:

- ``workers = 1``: in this process (no start-up cost; used by tests with a fake task function).
- ``workers > 1``: a ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn`` start method (safe with torch,
  whose thread pools do not survive ``fork``), one torch thread per worker so N workers use N cores.
- ``ray``: real Ray tasks (``ray.remote(num_cpus=1)``) on ``ray.init(address)``, a local runtime when no address is
  given (``pip install 'nashlab[ray]'``).

Workers never outlive the run. Each local worker asks the kernel for SIGKILL when its parent dies
(``prctl(PR_SET_PDEATHSIG)``, Linux) and also watches its parent from a thread (``os.getppid()`` changes when the
parent is gone; the portable fallback), so a ``kill -9`` of ``nashlab run`` takes its workers down within a second, and
with them multiprocessing's resource tracker, which exits once the last process holding its pipe is gone. An
interrupted run (Ctrl-C, SIGTERM, any exception) kills its workers at once instead of letting their batches finish
uncommitted. Workers ignore SIGINT: a Ctrl-C reaches the whole process group, and only this process must react.

Only this process writes the store, one transaction per finished batch (see :mod:`nashlab.experiments.store`), so the
backends differ in where the arithmetic happens and in nothing else: each batch's numbers depend only on its tasks'
parameters, so local processes, Ray and a killed-then-resumed run all store the same numbers.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from .config import SweepConfig, expand
from .store import Store
from .tasks import batch_cost, make_batches, run_batch

TaskFn = Callable[[list], list]


def _init_worker() -> None:
    import torch

    # Subnormal floats (|x| < 2.2e-308) appear when a last iterate concentrates (exp of log-probs below −708, e.g. MWU
    # on a cyclic game) and make CPU arithmetic ~100× slower; flushing them to zero changes no stored number we
    # measured (max |Δ| = 0 over a 12-game batch) and made that batch 5× faster.
    torch.set_flush_denormal(True)
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass


#: Seconds between two looks of a worker at its parent (the fallback where PR_SET_PDEATHSIG does not exist).
PARENT_POLL_S = 0.5


def die_with_parent(parent: int) -> None:
    """Make this process end when ``parent`` does, whatever signal ends it (see the module docstring)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still applies
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="nashlab-parent-watch", daemon=True).start()


def _init_pool_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)
    _init_worker()


def _worker_run(fn: TaskFn, batch: list) -> list:
    return fn(batch)


def _ray_run(fn: TaskFn, batch: list) -> list:
    _init_worker()
    return fn(batch)


def run_sweep(
    cfg: SweepConfig,
    out: str | Path,
    *,
    workers: int = 1,
    ray_address: str | None | bool = False,
    task_fn: TaskFn = run_batch,
    batch: bool = True,
    progress: bool = True,
    max_batches: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) a sweep into ``out``.

    Args:
        cfg: a validated config.
        out: the run directory; its ``results.sqlite`` is created or resumed.
        workers: local processes (``1``: run in this process). With Ray: the CPUs of a local Ray runtime.
        ray_address: ``False`` for local processes; ``None``/``""``/``"local"`` for a local Ray runtime;
            an address (``"auto"``, ``"ray://host:10001"``) to join a cluster.
        task_fn: ``list[Task] -> list[record]`` (default :func:`run_batch`); must be picklable for workers > 1.
        batch: stack compatible tasks into one solve call (see :func:`make_batches`).
        progress: a tqdm bar on stderr (tasks done, rate, time left).
        max_batches: stop after this many batches (tests use it to leave a sweep half done).

    Returns:
        summary: ``tasks`` (grid size), ``skipped`` (already stored), ``ran``, ``batches``, ``wall_s``, ``out``.

    Raises:
        ConfigMismatch: ``out`` holds results of another config.
    """
    from nashlab import __version__

    t0 = time.perf_counter()
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be an integer ≥ 1; got {workers!r}")
    tasks = expand(cfg)
    index = {t.task_id: i for i, t in enumerate(tasks)}
    if len(index) != len(tasks):
        raise ValueError("the config expands to duplicate tasks (two games with identical specs and names?)")
    store = Store(out)
    try:
        store.bind_config(cfg.text, cfg.hash, cfg.source, __version__)
        done = store.done()
        batches = [b for b in make_batches(tasks, batch=batch) if not all(t.task_id in done for t in b)]
        # Largest first: the long batches start early, so the tail of the sweep is short (LPT scheduling).
        batches.sort(key=batch_cost, reverse=True)
        if max_batches is not None:
            batches = batches[:max_batches]
        skipped = sum(t.task_id in done for t in tasks)
        from tqdm import tqdm

        tty = sys.stderr.isatty()
        bar = tqdm(total=len(tasks), initial=skipped, unit="task", file=sys.stderr, disable=not progress,
                   desc=f"nashlab run {Path(out).name}", dynamic_ncols=True, smoothing=0.05,
                   mininterval=0.2 if tty else 10.0)  # a log file gets a line every 10 s, not every task

        def commit(b: list, records: list) -> None:
            by_id = {r["task_id"]: r for r in records}
            missing = [t.task_id for t in b if t.task_id not in by_id]
            if missing:
                raise RuntimeError(f"task function returned no record for {len(missing)} task(s), e.g. {missing[0]}")
            store.write((index[t.task_id], t.params(), by_id[t.task_id]) for t in b)
            bar.update(len(b))

        ran = sum(len(b) for b in batches)
        try:
            if ray_address is not False:
                _run_ray(batches, task_fn, commit, ray_address, workers)
            elif workers == 1 or len(batches) <= 1:
                # In-process: the same numeric settings as a worker, undone afterwards so that the caller (a test
                # session, a notebook) does not inherit flush-to-zero or a single thread.
                import torch

                threads = torch.get_num_threads()
                _init_worker()
                try:
                    for b in batches:
                        commit(b, task_fn(b))
                finally:
                    torch.set_flush_denormal(False)
                    torch.set_num_threads(threads)
            else:
                _run_pool(batches, task_fn, commit, workers)
        finally:
            bar.close()
    finally:
        store.close()
    return {"tasks": len(tasks), "skipped": skipped, "ran": ran, "batches": len(batches),
            "wall_s": round(time.perf_counter() - t0, 3), "out": str(out)}


def _run_pool(batches: list, task_fn: TaskFn, commit, workers: int) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")
    ex = ProcessPoolExecutor(max_workers=min(workers, len(batches)), mp_context=ctx, initializer=_init_pool_worker,
                             initargs=(os.getpid(),))
    try:
        pending = {ex.submit(_worker_run, task_fn, b): b for b in batches}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                b = pending.pop(fut)
                commit(b, fut.result())
    except BaseException:
        _kill_workers(ex)
        raise
    ex.shutdown(wait=True)


def _kill_workers(ex) -> None:
    """Stop a pool now: its running batches would only finish uncommitted (a resume reruns them)."""
    ex.shutdown(wait=False, cancel_futures=True)
    kill = getattr(ex, "kill_workers", None)  # Python ≥ 3.14
    if kill is not None:
        kill()
    else:
        for p in list((getattr(ex, "_processes", None) or {}).values()):
            p.kill()
    for p in list((getattr(ex, "_processes", None) or {}).values()):
        p.join(5)


def _run_ray(batches: list, task_fn: TaskFn, commit, address, workers: int) -> None:
    try:
        import ray
    except ImportError:
        raise ValueError("--ray needs Ray: pip install 'nashlab[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        if address in (None, "", "local"):
            ray.init(num_cpus=workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        else:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1)(_ray_run)
        fn_ref = ray.put(task_fn)
        refs = {remote.remote(fn_ref, b): b for b in batches}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for r in ready:
                commit(refs.pop(r), ray.get(r))
    finally:
        if started_here:
            ray.shutdown()
