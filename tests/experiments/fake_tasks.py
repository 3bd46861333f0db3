"""A tiny deterministic stand-in for ``run_batch``: curves computed from each task's own parameters.

It lets the runner, store, resume and figure tests run in milliseconds and independently of the solvers. Its numbers
depend only on the task (a generator seeded by the task id), exactly the property the real task function must have.
"""

from __future__ import annotations

import hashlib
import os
import time

import numpy as np

RATES = {"egpo": 0.05, "nash-mp": 0.04, "mmd": 0.03, "inpo": 0.02, "mwu": 0.0, "mnpo": 0.01, "td-mnpo": 0.015}


def fake_run_batch(batch):
    delay = float(os.environ.get("NASHLAB_FAKE_DELAY", "0"))
    out = []
    for t in batch:
        rng = np.random.default_rng(int(hashlib.sha256(t.task_id.encode()).hexdigest()[:12], 16))
        its = list(range(0, t.iters + 1, t.every))
        if its[-1] != t.iters:
            its.append(t.iters)
        it = np.asarray(its, dtype=np.float64)
        q = RATES.get(t.solver, 0.01) * (1.0 + 0.1 * rng.random())
        gap = 0.5 * np.exp(-q * it) + (0.0 if t.feedback == "exact" else 1e-3 * rng.random())
        m = int(t.feedback.split(":")[1]) if t.feedback.startswith("sampled") else 1
        trace = {"iteration": its, "queries": (it * 10 * m).tolist()}
        name = "multiplayer_duality_gap" if t.num_players else ("reg_duality_gap" if t.beta > 0 else "duality_gap")
        trace[name] = gap.tolist()
        trace["avg_" + name] = (gap * 1.5 + 1e-3 / (1 + it)).tolist()
        if not t.num_players:
            trace["kl_to_nash"] = (0.3 * np.exp(-q * it)).tolist()
            trace["duality_gap"] = trace.get("duality_gap", (gap + 0.01).tolist())
        final = {k: v[-1] for k, v in trace.items() if k not in ("iteration", "queries")}
        out.append({"task_id": t.task_id, "final": final, "trace": trace, "queries": trace["queries"][-1],
                    "hparams": {"eta": t.eta if t.eta is not None else 0.5, "beta": t.beta}, "wall_s": delay})
        if delay:
            time.sleep(delay)
    return out


def fake_eta_run_batch(batch):
    """Gap ``½·exp(−η t)``: larger η is faster (both 0.5 and 0.8 reach the float64 floor within 60 iterations)."""
    out = []
    for t in batch:
        it = np.arange(0, t.iters + 1, t.every, dtype=np.float64)
        gap = 0.5 * np.exp(-t.eta * it)
        name = "reg_duality_gap" if t.beta > 0 else "duality_gap"
        trace = {"iteration": it.astype(int).tolist(), "queries": it.tolist(), name: gap.tolist()}
        out.append({"task_id": t.task_id, "final": {name: float(gap[-1])}, "trace": trace, "queries": float(it[-1]),
                    "hparams": {"eta": t.eta, "beta": t.beta}, "wall_s": 0.0})
    return out
