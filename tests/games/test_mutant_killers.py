"""Tests written for the mutants of ``scripts/mutation_check.py`` that the rest of tests/games let survive.

Each test names the mutant(s) it kills and checks a value against an independent computation (plain numpy written
here from the formula, or a count done by hand), never against the function under test.
"""

from __future__ import annotations

import numpy as np
import pytest

from nashlab.games import best_response_value, exact_nash, kl, make_matrix

RNG = np.random.default_rng(20240601)


def _kl_numpy(p, q):
    """``Σ_y p(y) log(p(y)/q(y))`` with ``0 log 0 = 0``, from the definition."""
    m = p > 0
    return float(np.sum(p[m] * np.log(p[m] / q[m])))


def test_kl_is_oriented_p_then_q():
    """M04 (``kl(p, q)`` computing ``KL(q‖p)``): KL is not symmetric, so the orientation shows on any asymmetric pair,
    and ``KL(p‖q)`` is +inf exactly when ``q`` misses part of ``p``'s support (not the other way round)."""
    p, q = np.array([0.9, 0.05, 0.05]), np.array([0.2, 0.3, 0.5])
    assert abs(_kl_numpy(p, q) - _kl_numpy(q, p)) > 0.1  # the pair tells the orientations apart
    assert kl(p, q) == pytest.approx(_kl_numpy(p, q), abs=1e-14)
    assert kl(q, p) == pytest.approx(_kl_numpy(q, p), abs=1e-14)
    narrow, wide = np.array([0.5, 0.5, 0.0]), np.array([0.2, 0.3, 0.5])
    assert kl(narrow, wide) == pytest.approx(_kl_numpy(narrow, wide), abs=1e-14)
    assert np.isinf(kl(wide, narrow))


def test_best_response_value_at_beta_zero_is_the_best_pure_win_rate():
    """M08 (``max → mean`` at β = 0): ``V(π) = max_y (Pπ)_y`` when β = 0, and the β > 0 log-sum-exp form tends to
    it from above as β → 0 (``V_β − V_0 ∈ [β log π_ref(y*), 0] + …`` for uniform π_ref: ``0 ≤ V_0 − V_β ≤ β log n``)."""
    for n in (2, 5, 9):
        P = make_matrix("skew", n=n, seed=n)
        pi = RNG.dirichlet(np.ones(n))
        ref = np.full(n, 1.0 / n)
        g = P @ pi
        assert best_response_value(P, pi, ref, 0.0) == pytest.approx(g.max(), abs=1e-15)
        for beta in (1e-2, 1e-3):
            v = best_response_value(P, pi, ref, beta)
            assert -1e-12 <= g.max() - v <= beta * np.log(n) + 1e-12


def _cycle3(a, b, c):
    """The 3-action cycle with ``A = P − ½`` skew, ``A[0, 1] = a``, ``A[1, 2] = b``, ``A[2, 0] = c`` (all > 0): its
    equilibrium solves ``Aπ = 0`` on the simplex, ``π ∝ (b, c, a)`` (check: ``(Aπ)_0 = a·c − c·a = 0``, etc.)."""
    A = np.array([[0.0, a, -c], [-a, 0.0, b], [c, -b, 0.0]])
    return 0.5 + A, np.array([b, c, a]) / (a + b + c)


def test_polish_keeps_small_support_entries():
    """M20 (the polish's support threshold 1e-9 → 1e-2): an equilibrium with an entry of ~1.2e-3, known in closed
    form, is recovered to machine precision from a point 1e-8 away; dropping that entry from the support system leaves
    the perturbed point (gap ~1e-8)."""
    from nashlab.games import nash as nash_mod

    P, star = _cycle3(0.4, 0.001, 0.4)
    assert 1e-9 < star.min() < 1e-2
    noisy = star + np.array([1e-8, -2e-8, 1e-8])
    polished = nash_mod._polish_support(P, noisy)
    np.testing.assert_allclose(polished, star, atol=1e-15)
    assert 2.0 * (P @ polished).max() - 1.0 <= 1e-15


def test_lp_path_rejects_a_poor_first_answer(monkeypatch):
    """M16 (``_gap``'s max → min): the full LP path keeps trying until ``DG_0 = 2 max_y (Pπ)_y − 1 ≤ 1e-10``. The first
    HiGHS answer is spoiled here (1e-3 of mass moved to an action outside the equilibrium's support, which the support
    polish cannot undo); the path must reject it on its gap and return the next attempt's certified point."""
    from nashlab.games import nash as nash_mod

    real = nash_mod.linprog
    P = make_matrix("skew", n=12, seed=5)
    star = exact_nash(P)
    off = int(np.flatnonzero(star == 0)[0])
    calls = []

    def spoiled_first(*args, **kwargs):
        res = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1 and res.x is not None:
            x = res.x.copy()
            x[:-1] *= 0.999
            x[off] += 1e-3
            res.x = x
        return res

    monkeypatch.setattr(nash_mod, "linprog", spoiled_first)
    pi = nash_mod._max_lottery_single(P)
    assert len(calls) >= 2
    assert 2.0 * (P @ pi).max() - 1.0 <= 1e-10  # recomputed here from P and π
    np.testing.assert_allclose(pi, star, atol=1e-8)


def test_support_polish_solves_the_documented_system():
    """M25 (``1.5 − P`` → ``1 − P`` in the polish): ``support_polish`` returns ``z`` with ``((1.5 − P) z)_S = 1`` and
    ``z_¬S = 0``, which at an equilibrium's support is the equilibrium itself (``1ᵀz = 1``, ``(Pz)_S = ½``). The
    mutant's ``z`` is ``2π``: the same after normalisation, which is all :func:`lcp_interior_point` uses, so the
    solver's answers cannot show it; the documented contract of ``support_polish`` does."""
    from nashlab.games.nash_scale import _Ops, support_polish

    P, star = _cycle3(0.3, 0.1, 0.2)
    P4 = np.zeros((4, 4))  # a fourth action that loses to all three: off the support
    P4[:3, :3] = P
    P4[3, :3], P4[:3, 3], P4[3, 3] = 0.2, 0.8, 0.5
    S = np.array([[True, True, True, False]])
    z = support_polish(P4[None], S, _Ops(P4))
    np.testing.assert_allclose(z[0], np.append(star, 0.0), atol=1e-15)
    np.testing.assert_allclose((P4 @ z[0])[:3], 0.5, atol=1e-15)


def test_reference_policy_of_another_length_is_refused():
    """M28 (``!= n`` → ``< n``): a probability vector one entry longer than the game is refused, even though it sums
    to 1."""
    from nashlab.games import validate_policy

    with pytest.raises(ValueError, match="must have length 2"):
        validate_policy([0.5, 0.5, 0.0], 2)
    with pytest.raises(ValueError, match="must have length 3"):
        validate_policy([0.5, 0.5], 3)


def test_shared_soft_win_rates_equal_the_count_weighted_rows():
    """M37 (``P`` → ``Pᵀ`` in the shared soft estimate): with soft labels the estimate is deterministic,
    ``ĝ_y = Σ_z c_z P[y, z] / Σ_z c_z``, computed here with numpy; an asymmetric ``P`` tells ``P`` from ``Pᵀ``."""
    import torch

    from nashlab.games import PreferenceOracle

    P = make_matrix("skew", n=5, seed=2)
    counts = np.array([3.0, 0.0, 1.0, 4.0, 2.0])
    oracle = PreferenceOracle(P, seed=0)
    got = oracle.shared_win_rates(torch.tensor(counts), labels="soft").numpy()
    np.testing.assert_allclose(got, P @ counts / counts.sum(), atol=1e-15)
    assert not np.allclose(P @ counts, P.T @ counts)
    assert oracle.queries == 5 * 10  # n·M


def test_an_entry_above_one_is_named_as_out_of_range():
    """M26 (the in-range fast path accepting entries up to 1.5): ``P[0, 1] = 1.2`` is reported as outside [0, 1] (the
    first check it fails), not as a violation of ``P + Pᵀ = 1``."""
    from nashlab.games import validate_preference_matrix

    with pytest.raises(ValueError, match=r"entries must lie in \[0, 1\]; P\(0, 1\) = 1\.2"):
        validate_preference_matrix([[0.5, 1.2], [0.3, 0.5]])


def test_skew_violation_in_the_first_game_of_a_long_batch_is_refused():
    """M27 (only the last chunk of a batch counted in ``max |P + Pᵀ − 1|``): the check walks a batch in chunks
    (6 games at n = 100); a violation in game 0 of 13, anywhere but the last chunk, must still be found, and it is the
    entry the message names."""
    from nashlab.games import validate_preference_matrix

    P = np.stack([make_matrix("skew", n=100, seed=s) for s in range(13)])
    P[0, 3, 7] += 1e-6
    with pytest.raises(ValueError, match=r"max \|P \+ Pᵀ − 1\| = 1\.00e-06 at \(0, 3, 7\)|at \(0, 7, 3\)"):
        validate_preference_matrix(P)
    validate_preference_matrix(P[1:])  # the rest of the batch is valid


def test_torch_newton_converges_on_its_own():
    """M24 (the torch kernel's Newton Jacobian with the wrong sign): the torch path (``device="cpu"``) must converge
    by Newton at the target β itself, as the numpy path does, not through the continuation fallback that would hide a
    wrong Jacobian behind a right answer; its answer is the numpy one and satisfies the fixed point, recomputed here."""
    from nashlab.games import regularized_nash

    P = np.stack([make_matrix("embedding", n=30, seed=s) for s in range(3)])
    beta = 0.02
    pi, cert = regularized_nash(P, beta=beta, device="cpu", return_certificate=True)
    assert list(cert.method) == ["newton"] * 3
    np.testing.assert_allclose(pi, regularized_nash(P, beta=beta), atol=1e-12)
    F = np.log(pi) - np.log(1 / 30) - np.einsum("bij,bj->bi", P, pi) / beta
    assert ((F.max(-1) - F.min(-1)) / 2 <= 1e-10).all()
