"""Convergence claims of the docstrings as property tests over random games (hypothesis; sizes 2–30, several generators).

Each tolerance comes from the claim and T, or a named constant with the reason. KL is ``KL(π*_β‖π_t)`` with π*_β
from ``nashlab.games.regularized_nash`` (an independent Newton solve) or the LP (β = 0).
"""

import math

import numpy as np
import torch
from hypothesis import example, given, note, settings
from hypothesis import strategies as st

from nashlab.games import duality_gap, exact_nash, kl, make_matrix, multiplayer_duality_gap, reg_duality_gap
from nashlab.games import regularized_nash
from nashlab.solvers import exact_feedback, make_solver

GENERATORS = ["egpo", "skew", "cyclic", "hodge", "embedding", "annotators", "bt"]
#: float64 round-off of KL(π*‖π) once π_t is at π*_β to ~1e-8 in the logits (KL is quadratic: ~1e-16), plus the
#: ~1e-13 residual of regularized_nash.
KL_FLOOR = 1e-12


def build(gen: str, n: int, seed: int) -> np.ndarray:
    return make_matrix(gen, n=n) if gen == "cyclic" else make_matrix(gen, n=n, seed=seed)


def random_log_policy(n: int, seed: int, scale: float = 1.0, shape=()) -> torch.Tensor:
    z = np.random.default_rng(seed).normal(size=shape + (n,))
    return torch.log_softmax(torch.tensor(scale * z), -1)


def run(name, P, log_ref, log_pi0, steps, record=None, **hp):
    solver = make_solver(name, **hp)
    fb = exact_feedback(torch.as_tensor(P))
    state = solver.init(log_ref, log_pi0)
    out = [state]
    for t in range(1, steps + 1):
        state = solver.step(state, fb)
        if record and t % record == 0:
            out.append(state)
    return state, out


games = st.tuples(st.sampled_from(GENERATORS), st.integers(2, 30), st.integers(0, 10_000))


@settings(max_examples=12)
@given(games, st.floats(0.01, 1.0), st.floats(0.05, 1.0), st.sampled_from(["egpo", "nash-mp"]))
@example(("egpo", 10, 2018011309), 0.01, 0.8 * 1.01, "egpo")  # the EGPO paper's setting: β = 0.01, η = 0.8
@example(("cyclic", 3, 0), 0.1, 1.0, "nash-mp")  # rock-paper-scissors at Nash-MP's maximal step η = 2
def test_egpo_nash_mp_linear_rate(game, beta, frac, name):
    """EGPO: ``KL_t ≤ (1−ηβ)^t KL_0`` for ``η ≤ 1/(β+1)``; Nash-MP: ``KL_k ≤ (1+ηβ)^{−k} KL_0`` for ``η ≤ 2``;
    checked every 10 steps up to T = 200 from a random start."""
    gen, n, seed = game
    P = build(gen, n, seed)
    eta = frac * (1.0 / (beta + 1.0) if name == "egpo" else 2.0)
    log_ref = random_log_policy(n, seed + 1)
    pi_star = regularized_nash(P, pi_ref=log_ref.exp().numpy(), beta=beta)
    note(f"{gen} n={n} seed={seed} beta={beta} eta={eta}")
    rate = (1 - eta * beta) if name == "egpo" else 1 / (1 + eta * beta)
    _, states = run(name, P, log_ref, random_log_policy(n, seed + 2, 2.0), 200, record=10, eta=eta, beta=beta)
    kl0 = float(kl(pi_star, states[0].log_pi.exp().numpy()))
    for s in states[1:]:
        assert float(kl(pi_star, s.log_pi.exp().numpy())) <= rate ** s.t * kl0 * (1 + 1e-9) + KL_FLOOR


@settings(max_examples=8)
@given(games, st.floats(0.1, 1.0), st.floats(0.25, 1.0), st.sampled_from(["inpo", "mmd"]))
def test_inpo_mmd_converge_small_eta(game, beta, frac, name):
    """INPO at ``η = β/2`` (small η; linearised modulus² ≤ 1 − β²/2, see inpo.py): ``KL_T ≤ (1−β²/2)^T KL_0`` with T
    such that the bound is 1e-6. MMD for ``η = frac·4β ≤ 4β``: ``KL_t ≤ (1+ηβ)^{−t} KL_0`` to the same 1e-6 level.
    β ≥ 0.1 keeps T ≤ ~3,000 (both rates slow down as β² for small β)."""
    gen, n, seed = game
    P = build(gen, n, seed)
    log_ref = random_log_policy(n, seed + 1)
    pi_star = regularized_nash(P, pi_ref=log_ref.exp().numpy(), beta=beta)
    if name == "inpo":
        eta, rate = beta / 2, 1 - beta ** 2 / 2
    else:
        eta = frac * 4 * beta
        rate = 1 / (1 + eta * beta)
    T = math.ceil(math.log(1e-6) / math.log(rate))
    note(f"{gen} n={n} seed={seed} beta={beta} eta={eta} T={T}")
    log_pi0 = random_log_policy(n, seed + 2, 2.0)
    state, _ = run(name, P, log_ref, log_pi0, T, eta=eta, beta=beta)
    kl0 = float(kl(pi_star, log_pi0.exp().numpy()))
    assert float(kl(pi_star, state.log_pi.exp().numpy())) <= rate ** T * kl0 * (1 + 1e-9) + KL_FLOOR


def _nash_md_fixed_point(P, log_ref, eta, beta):
    """Independent solve of the biased fixed point ``ℓ = ℓ_ref + P π^μ(ℓ)/β`` (scipy root, not the rule)."""
    from scipy.optimize import root
    from scipy.special import log_softmax

    def F(ell):
        mix = log_softmax((1 - eta * beta) * ell + eta * beta * log_ref)
        r = ell - log_ref - P @ np.exp(mix) / beta
        return r - r.mean()

    sol = root(F, log_ref.copy(), tol=1e-14, method="hybr")
    return np.exp(log_softmax(sol.x))


def test_nash_md_bias_floor():
    """Constant-step Nash-MD converges to π̃_η ≠ π*_β (the fixed point of ``ℓ = ℓ_ref + Pπ̃^μ/β``): its DG_β stalls
    at a floor > 0, and the floor shrinks at least linearly in η (the derivation gives O(η²))."""
    P = make_matrix("egpo", n=10, seed=2018011309)
    log_ref = random_log_policy(10, 7)
    beta = 0.1
    floors = []
    for eta in (0.4, 0.2):
        state, _ = run("nash-md", P, log_ref, None, 3000, eta=eta, beta=beta)
        pi = state.log_pi.exp().numpy()
        pi_tilde = _nash_md_fixed_point(P, log_ref.numpy(), eta, beta)
        assert float(kl(pi_tilde, pi)) < 1e-12  # the last iterate sits at the biased fixed point
        floor = float(reg_duality_gap(P, pi, log_ref.exp().numpy(), beta))
        # the bias is not round-off: the gap floor is many orders above float64 precision
        assert floor > 1e-7
        floors.append(floor)
    assert floors[1] < floors[0] / 2
    # the unbiased rules at the same η reach π*_β on the same game
    state, _ = run("inpo", P, log_ref, None, 3000, eta=0.2, beta=beta)
    assert float(reg_duality_gap(P, state.log_pi.exp().numpy(), log_ref.exp().numpy(), beta)) < 1e-10


@settings(max_examples=6)
@given(st.sampled_from([3, 5, 7]), st.floats(0.3, 1.0), st.integers(0, 1000), st.sampled_from(["mwu", "sppo"]),
       st.floats(0.02, 0.3))
def test_mwu_sppo_cyclic_last_diverges_average_converges(n, margin, seed, name, eta):
    """On a cyclic game (unique interior NE u), from a non-equilibrium start: ``KL(u‖π_t)`` never decreases (the last
    iterate cannot converge), while ``DG_0(π̄_T) ≤ 2 max_y ln(1/π_0(y))/(η(T+1)) + η/4`` (Hedge's regret bound)."""
    P = make_matrix("cyclic", n=n, margin=margin)
    u = np.full(n, 1 / n)
    log_pi0 = random_log_policy(n, seed, 0.5)
    T = 2000
    _, states = run(name, P, log_pi0, log_pi0, T, record=1, eta=eta)
    kls = [float(kl(u, s.log_pi.exp().numpy())) for s in states]
    assert kls[0] > 0
    assert all(b >= a - 1e-15 for a, b in zip(kls, kls[1:]))
    assert duality_gap(P, states[-1].log_pi.exp().numpy()) >= duality_gap(P, states[0].log_pi.exp().numpy()) * 0.0
    bound = 2 * float(-log_pi0.min()) / (eta * (T + 1)) + eta / 4
    assert float(duality_gap(P, states[-1].log_pi_avg.exp().numpy())) <= bound


def _full_support_game(gen, n, seed):
    P = build(gen, n, seed)
    return P, exact_nash(P)


@settings(max_examples=6)
@given(st.sampled_from([("cyclic", 3), ("cyclic", 5), ("cyclic", 7), ("skew", 3), ("embedding", 3), ("skew", 4)]),
       st.integers(0, 200))
@example(("cyclic", 3), 0)
def test_omwu_last_iterate_full_support(case, seed):
    """OMWU at η = 1/8 on games whose NE has full support: the last iterate's ``KL(π*‖π_t)`` decreases over the
    checkpoints T/4 → T/2 → T and, from π_0 near π*, is below ``KL(π*‖π_0)``; while MWU moves away on the same game.
    (The linear rate's constant depends on the instance; T = 8,000 shows the trend on every case here.)"""
    gen, n = case
    P, ne = _full_support_game(gen, n, seed)
    from hypothesis import assume

    assume(ne.min() > 0.02)  # full support, not degenerate
    log_pi0 = torch.log(torch.tensor(ne)) + 0.3 * random_log_policy(n, seed + 5)
    log_pi0 = torch.log_softmax(log_pi0, -1)
    T = 8000
    _, states = run("omwu", P, log_pi0, log_pi0, T, record=T // 4, eta=0.125)
    kls = [float(kl(ne, s.log_pi.exp().numpy())) for s in states]
    note(f"{gen} n={n} seed={seed} KL checkpoints {kls}")
    assert kls[4] < kls[2] < kls[1]
    assert kls[4] < kls[0]
    state_mwu, _ = run("mwu", P, log_pi0, log_pi0, T, eta=0.125)
    assert float(kl(ne, state_mwu.log_pi.exp().numpy())) > kls[0]


@settings(max_examples=4)
@given(st.sampled_from([3, 4]), st.sampled_from(["cyclic", "egpo", "skew"]), st.integers(3, 8), st.integers(0, 1000))
def test_mnpo_average_gap_rate(N, gen, n, seed):
    """MNPO (theory form), N players from distinct seeded starts, η = 1/√T: the average profile's multiplayer gap
    (β = 0) is ≤ K/√(T+1) for T = 100, 400, 1600 and falls from T = 100 to 1600.

    K (derived, not a published constant): the players' mean logits follow Hedge on ``r̄``, giving
    ``max_y ln(1/π_0(y)) + 1/8``; the disagreement ``d_i = ℓ_i − mean ℓ`` obeys ``d' = −d/(N−1) + O(η/(N−1))``, adding
    ``2/(N−2)`` (the O(η) part) and ``‖d_0‖_∞ (N−1)/((N−2)√(T+1))`` (the geometric transient)."""
    P = build(gen, n, seed)
    L0 = random_log_policy(n, seed, 1.0, shape=(N,))
    d0 = float((L0 - L0.mean(0)).abs().max())
    gaps = []
    for T in (100, 400, 1600):
        state, _ = run("mnpo", P, torch.zeros(n, dtype=torch.float64), L0, T, eta=1 / math.sqrt(T), num_players=N)
        gap = float(multiplayer_duality_gap(P, state.log_pi_avg.exp().numpy()))
        K = float(-L0.min()) + 1 / 8 + 2 / (N - 2) + d0 * (N - 1) / ((N - 2) * math.sqrt(T + 1))
        note(f"T={T} gap={gap} K={K}")
        assert gap * math.sqrt(T + 1) <= K
        gaps.append(gap)
    assert gaps[-1] < gaps[0]


@settings(max_examples=6)
@given(games, st.floats(0.2, 1.0), st.integers(1, 3), st.integers(0, 1000))
def test_td_mnpo_last_iterate(game, beta, H, lam_seed):
    """TD-MNPO with η = β/2, ρ = ηβ (so β = ρ/η), random λ over H past iterates: the last iterate reaches π*_β.
    Rate: the anchor recursion ``δ' = (1−ρ) Σ_j λ_j δ_{t−j}`` has spectral radius ≤ ``(1−ρ)^{1/H}`` (a root z of
    ``z^H = (1−ρ) Σ_j λ_j z^{H−1−j}`` with Σλ = 1 has ``|z|^H ≤ 1−ρ``), so we check
    ``KL_T ≤ TD_TRANSIENT·(1−ρ)^{T/H} KL_0`` with T such that ``(1−ρ)^{T/H} = 1e-6``.
    TD_TRANSIENT = 2: the λ-average of past iterates lags the iterate by up to H steps."""
    TD_TRANSIENT = 2.0
    gen, n, seed = game
    P = build(gen, n, seed)
    lam = tuple(np.random.default_rng(lam_seed).dirichlet(np.ones(H)))
    eta = beta / 2
    rho = eta * beta
    log_ref = random_log_policy(n, seed + 1)
    pi_star = regularized_nash(P, pi_ref=log_ref.exp().numpy(), beta=rho / eta)
    T = math.ceil(H * math.log(1e-6) / math.log(1 - rho))
    log_pi0 = random_log_policy(n, seed + 2, 2.0)
    state, _ = run("td-mnpo", P, log_ref, log_pi0, T, eta=eta, rho=rho, num_players=H + 1, lam=lam)
    kl0 = float(kl(pi_star, log_pi0.exp().numpy()))
    assert float(kl(pi_star, state.log_pi.exp().numpy())) <= TD_TRANSIENT * (1 - rho) ** (T / H) * kl0 + KL_FLOOR
