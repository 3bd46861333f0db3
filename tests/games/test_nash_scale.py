"""Reference equilibria at scale: certification of the interior-point and Newton answers recomputed here from P and
π alone, agreement with the full LP, batched = looped, the torch kernels = the numpy ones, the named fallback, the
degenerate games, the size refusal and Ctrl-C of a long solve."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

import nashlab.games.nash as nash_mod
from nashlab.games import exact_nash, make_matrix, regularized_nash
from nashlab.games.interruptible import call_interruptible

FAMILIES = ["skew", "egpo", "hodge", "embedding"]


def _gap(P, pi):
    return 2.0 * float((P @ pi).max()) - 1.0


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_certified_n200(name, seed):
    P = make_matrix(name, n=200, seed=seed)
    pi, cert = exact_nash(P, return_certificate=True)
    assert cert.method == "interior point"
    assert pi.min() >= 0 and abs(pi.sum() - 1) <= 1e-12
    assert _gap(P, pi) <= 1e-9 and abs(float(cert.duality_gap) - _gap(P, pi)) <= 1e-15
    assert float(cert.residual) == pytest.approx(float((pi * np.abs(P @ pi - 0.5)).max()), abs=1e-15)
    if seed == 0 and name != "hodge":  # generic: the equilibrium is unique, so the full LP finds the same one
        np.testing.assert_allclose(pi, nash_mod._max_lottery_single(P), atol=1e-8)


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("beta", [0.1, 0.01])
def test_regularized_certified_n200(name, beta):
    n = 200
    P = make_matrix(name, n=n, seed=1)
    ref = np.random.default_rng(1).dirichlet(np.ones(n)) * 0.5 + 0.5 / n
    pi, log_pi, cert = regularized_nash(P, pi_ref=ref, beta=beta, return_log=True, return_certificate=True)
    assert cert.method == "newton"
    F = log_pi - np.log(ref) - P @ pi / beta
    assert (F.max() - F.min()) / 2 <= 1e-10
    assert float(cert.residual) == pytest.approx((F.max() - F.min()) / 2, abs=1e-13)
    assert float(cert.duality_gap) <= 1e-10
    # the same point as Newton with continuation in β (the previous method)
    _, log_cont = nash_mod._reg_nash_single(P, ref, beta, 1e-13)
    np.testing.assert_allclose(log_pi, log_cont, atol=1e-10)


def test_batched_equals_looped_contextual():
    B, n = 12, 40
    P = np.stack([make_matrix(FAMILIES[b % 4], n=n, seed=b) for b in range(B)]).reshape(3, 4, n, n)
    ref = np.random.default_rng(0).dirichlet(np.ones(n), size=(3, 4))
    e, ce = exact_nash(P, return_certificate=True)
    r, cr = regularized_nash(P, pi_ref=ref, beta=0.05, return_certificate=True)
    assert ce.duality_gap.shape == (3, 4) and cr.residual.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            np.testing.assert_allclose(e[i, j], exact_nash(P[i, j]), atol=1e-12)
            np.testing.assert_allclose(r[i, j], regularized_nash(P[i, j], pi_ref=ref[i, j], beta=0.05), atol=1e-12)
    assert (ce.duality_gap <= 1e-9).all() and (cr.residual <= 1e-10).all()


def _duplicated(P, y):
    """``P`` with action ``y`` copied as a new last action: every equilibrium weight of ``y`` can be split between the
    two copies, a set of equilibria (ties in every row)."""
    Q = np.vstack([P, P[y]])
    return np.hstack([Q, np.append(Q[:, y][:-1], 0.5)[:, None]])


@pytest.mark.parametrize("family", ["skew", "egpo", "embedding"])
def test_numpy_batch_kernel_agrees_with_looped_single_calls(family):
    """The numpy batch kernel (its own per-game layout, float32 factorisations while μ > 1e-8, removal at w/z > 1e2)
    against single calls on the same games: the same equilibrium to 1e-9 where it is unique (the generic games), and
    every answer certified from P and π alone, including degenerate games in the same batch: all ties, the uniform
    equilibrium of the odd cyclic tournament (support n), a Condorcet winner (support 1), a duplicated action and an
    even cyclic tournament (sets of equilibria)."""
    n = 41
    generic = [make_matrix(family, n=n, seed=s) for s in range(10)]
    base = make_matrix(family, n=n - 1, seed=99)
    y = int(np.argmax(exact_nash(base)))  # a support action: its copy makes the equilibrium set a segment
    even = np.full((n, n), 0.5)
    even[: n - 1, : n - 1] = make_matrix("cyclic", n=n - 1)  # plus an action that ties with everything
    degenerate = [np.full((n, n), 0.5), make_matrix("cyclic", n=n), make_matrix("bt", n=n), _duplicated(base, y), even]
    P = np.stack(generic[:5] + degenerate + generic[5:])
    pi, cert = exact_nash(P, return_certificate=True)
    looped = np.stack([exact_nash(p) for p in P])
    for b in range(P.shape[0]):
        assert pi[b].min() >= 0 and abs(pi[b].sum() - 1) <= 1e-12
        assert _gap(P[b], pi[b]) <= 1e-9 and cert.duality_gap[b] == pytest.approx(_gap(P[b], pi[b]), abs=1e-15)
        assert _gap(P[b], looped[b]) <= 1e-9
    is_generic = np.r_[np.ones(5, bool), np.zeros(len(degenerate), bool), np.ones(5, bool)]
    np.testing.assert_allclose(pi[is_generic], looped[is_generic], atol=1e-9)
    np.testing.assert_allclose(pi[6], np.full(n, 1 / n), atol=1e-12)  # odd cyclic: uniform, unique
    assert pi[7].max() == pytest.approx(1.0, abs=1e-12)  # Condorcet winner


def test_batch_with_games_finishing_at_different_steps_equals_looped():
    """Newton and the interior point step only the games still moving: a game solved at the start (the uniform game
    from the uniform reference) and one that needs several steps give each its single-game answer in one batch."""
    n = 30
    P = np.stack([np.full((n, n), 0.5), make_matrix("skew", n=n, seed=3), make_matrix("egpo", n=n, seed=4)])
    for beta in (0.01, 0.1):
        r, cr = regularized_nash(P, beta=beta, return_certificate=True)
        for b in range(3):
            np.testing.assert_allclose(r[b], regularized_nash(P[b], beta=beta), atol=1e-12)
        assert (cr.residual <= 1e-10).all()
    np.testing.assert_allclose(r[0], np.full(n, 1.0 / n), atol=1e-15)
    e, ce = exact_nash(P[1:], return_certificate=True)
    for b in range(2):
        assert 2.0 * (P[b + 1] @ e[b]).max() - 1.0 <= 1e-9
    assert (ce.duality_gap <= 1e-9).all()


def test_game_threads_run_every_game_once_in_contiguous_chunks():
    """``_game_threads``: every item reaches ``fn`` exactly once, in order within a chunk, in at most ``threads``
    contiguous chunks of at least ``_GAMES_PER_THREAD`` items (one chunk when there are fewer), the first on the
    calling thread; a worker's exception reaches the caller."""
    from nashlab.games import nash_scale

    per = nash_scale._GAMES_PER_THREAD
    for threads, count in ((1, 100), (2, 2 * per - 1), (2, 2 * per), (3, 7 * per + 5), (4, 3 * per)):
        chunks, lock = [], threading.Lock()

        def fn(items):
            with lock:
                chunks.append((list(items), threading.get_ident()))

        with nash_scale._game_threads(threads) as run:
            run(fn, list(range(count)))
        k = max(1, min(threads, count // per))
        assert len(chunks) == k
        assert sorted(x for c, _ in chunks for x in c) == list(range(count))
        assert all(c == list(range(c[0], c[0] + len(c))) and len(c) >= min(per, count) for c, _ in chunks)
        assert [t for c, t in chunks if c[0] == 0] == [threading.get_ident()]  # the first chunk: the caller's
    with pytest.raises(ZeroDivisionError):
        with nash_scale._game_threads(2) as run:
            run(lambda items: 1 / (len(items) - len(items)), list(range(4 * per)))


@pytest.mark.parametrize("family", ["skew", "embedding"])
def test_threaded_batch_kernels_give_the_one_thread_answers_bit_for_bit(family):
    """The batch kernels with their per-game factorisations on 3 threads return exactly (bit for bit) what one
    thread returns: each game's LAPACK calls are the same calls on the same data, whichever thread makes them."""
    from nashlab.games.nash_scale import lcp_interior_point, newton_regularized

    P = np.stack([make_matrix(family, n=40, seed=s) for s in range(64)])
    one, _ = lcp_interior_point(P, drop_ratio=1e2, threads=1)
    three, _ = lcp_interior_point(P, drop_ratio=1e2, threads=3)
    np.testing.assert_array_equal(three, one)
    log_ref = np.log(np.full((64, 40), 1 / 40))
    for beta in (0.01, 0.1):
        a = newton_regularized(P, log_ref, beta, threads=1)
        b = newton_regularized(P, log_ref, beta, threads=3)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(y, x)
        assert a[2].all()  # converged, so the comparison is of solved games


def test_torch_kernels_equal_numpy():
    """The kernels run on torch tensors (the GPU path) with the numpy results."""
    P = np.stack([make_matrix("embedding", n=30, seed=s) for s in range(6)])
    np.testing.assert_allclose(exact_nash(P, device="cpu"), exact_nash(P), atol=1e-12)
    np.testing.assert_allclose(regularized_nash(P, beta=0.02, device="cpu"), regularized_nash(P, beta=0.02), atol=1e-12)


@pytest.mark.gpu
def test_batch_on_cuda():
    import torch

    if not torch.cuda.is_available():
        pytest.fail("marked gpu but CUDA is not available")
    P = np.stack([make_matrix("egpo", n=100, seed=s) for s in range(256)])
    pi, cert = exact_nash(P, device="cuda", return_certificate=True)
    assert (cert.duality_gap <= 1e-9).all()
    r, cr = regularized_nash(P, beta=0.01, device="cuda", return_certificate=True)
    assert (cr.residual <= 1e-10).all()


def test_uncertified_answer_falls_back_to_lp_and_says_so(monkeypatch):
    P = make_matrix("egpo", n=30, seed=4)
    monkeypatch.setattr(nash_mod, "lcp_interior_point", lambda flat, **kw: (np.full(flat.shape[:-1], 1 / 30), 0))
    pi, cert = exact_nash(P, return_certificate=True)
    assert str(cert.method).startswith("full LP (HiGHS)") and "DG_0" in str(cert.method)
    assert _gap(P, pi) <= 1e-9


def test_wrong_action_removal_is_caught_and_resolved(monkeypatch):
    """Removing actions at w/z > 1e2 drops a support action of this game (DG_0 ~ 1e-4): certification catches it and
    the game is solved again without removal."""
    monkeypatch.setattr(nash_mod, "_DROP_RATIO", 1e2)
    P = make_matrix("egpo", n=100, seed=6)
    pi, cert = exact_nash(P, return_certificate=True)
    assert str(cert.method) == "interior point (again without removing actions)"
    assert _gap(P, pi) <= 1e-9


def test_wrong_action_removal_in_a_batch_is_resolved_inside_the_kernel():
    """In a batch the kernel re-solves, without removal, the games whose removal left a gap: with re-solving switched
    off (``retry_gap = inf``) the same batch keeps the wrong removal's gap, so the rescue is what certifies it."""
    from nashlab.games.nash_scale import lcp_interior_point

    P = np.stack([make_matrix("egpo", n=100, seed=6), make_matrix("skew", n=100, seed=1)])
    gaps = {}
    for retry in (1e-9, np.inf):
        pi, _ = lcp_interior_point(P, drop_ratio=1e2, retry_gap=retry)
        gaps[retry] = [_gap(P[b], pi[b]) for b in range(2)]
    assert gaps[np.inf][0] > 1e-6 and gaps[np.inf][1] <= 1e-12
    assert max(gaps[1e-9]) <= 1e-12
    pi, cert = exact_nash(P, return_certificate=True)  # re-solved inside the kernel: one method name for both
    assert list(cert.method) == ["interior point"] * 2 and (cert.duality_gap <= 1e-9).all()


@pytest.mark.parametrize("case", ["ties", "even_cyclic", "support_1", "support_n", "disc"])
def test_degenerate_games_keep_accuracy(case):
    if case == "ties":
        P = np.full((7, 7), 0.5)
    elif case == "even_cyclic":
        P = make_matrix("cyclic", n=6)  # a segment of equilibria
    elif case == "support_1":
        P = make_matrix("bt", n=50)  # a Condorcet winner
    elif case == "support_n":
        P = make_matrix("cyclic", n=101)  # uniform is the unique equilibrium
    else:  # rank-2 "disc" game: hundreds of near-best responses
        ab = np.random.default_rng(5).normal(size=(300, 2))
        P = 1.0 / (1.0 + np.exp(-(ab[:, :1] @ ab[:, 1:].T - ab[:, 1:] @ ab[:, :1].T)))
    pi, cert = exact_nash(P, return_certificate=True)
    assert pi.min() >= 0 and abs(pi.sum() - 1) <= 1e-12
    assert _gap(P, pi) <= 1e-9 and float(cert.duality_gap) <= 1e-9
    if case == "support_1":
        assert pi.max() == pytest.approx(1.0, abs=1e-12)
    if case == "support_n":
        np.testing.assert_allclose(pi, np.full(101, 1 / 101), atol=1e-12)


def test_oversized_game_refused(monkeypatch):
    monkeypatch.setattr(nash_mod, "MAX_EXACT_N", 5)
    with pytest.raises(ValueError, match="n = 6 actions is above the limit of 5"):
        exact_nash(make_matrix("skew", n=6))


def _raise_value_error():
    warnings.warn("exact_nash: from the child", RuntimeWarning)
    raise ValueError("bad thing")


def test_call_interruptible_result_error_and_warning():
    assert call_interruptible(sum, [1, 2, 3]) == 6
    with pytest.warns(RuntimeWarning, match="from the child"), pytest.raises(ValueError, match="bad thing"):
        call_interruptible(_raise_value_error)


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(c) for c in fh.read().split()]
    except FileNotFoundError:
        return []


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_call_interruptible_keyboard_interrupt_kills_child():
    before = set(_children(os.getpid()))
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        call_interruptible(time.sleep, 60)
    timer.join()
    assert set(_children(os.getpid())) <= before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_stops_a_long_exact_nash_cli():
    """`nashlab nash --game egpo:n=3000` solves in a child process; SIGINT once it runs stops both at once: exit
    130, one stderr line, no process left. (The 60 s bound only guards against a hang.)"""
    proc = subprocess.Popen([sys.executable, "-m", "nashlab.experiments.cli", "nash", "--game", "egpo:n=3000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    kids = []
    while not kids and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        kids = _children(proc.pid)
    assert kids, "the solver never started a child process"
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # pragma: no cover - the failure this test exists for
        proc.kill()
        raise
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["nashlab nash: interrupted"]
    assert not any(_alive(k) for k in kids)


def test_idle_cores_counts_the_other_running_tasks_now(monkeypatch):
    """``_idle_cores``: the usable cores minus the other runnable tasks of ``/proc/loadavg``'s fourth field (which
    counts the caller), at least 1; a file it cannot read falls back to the 1-minute load average."""
    import io

    monkeypatch.setattr(nash_mod.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(nash_mod.os, "getloadavg", lambda: (2.0, 0.0, 0.0))
    for text, want in (("9.0 9.0 9.0 1/80 123\n", 4),  # only the caller runs: the 1-minute 9.0 is ignored
                       ("0.1 0.1 0.1 3/80 123\n", 2),
                       ("0.1 0.1 0.1 12/80 123\n", 1),
                       ("garbled\n", 2)):  # fallback: 4 cores − load 2.0
        monkeypatch.setattr(nash_mod, "open", lambda *a, text=text, **k: io.StringIO(text), raising=False)
        assert nash_mod._idle_cores() == want, text
