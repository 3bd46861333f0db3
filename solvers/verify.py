"""``nashlab verify``: check any declared rule (the library's or a user's) before it is promoted to LLM training.

Each check reports ``{name, passed, measured, threshold, detail}``; ``passed`` is ``None`` for a check that cannot
run here (``conformance.cuda`` without a GPU, ``llm-realisation`` without the ``llm`` extra). The checks:

1. **conformance** — ``purity`` (the same state and feedback give the same next state, exact and sampled; inputs are
   not modified); ``batched`` (a batch of games equals the games stepped one by one, ≤ 1e-12); ``dtype`` (float32
   follows float64 for 20 steps, ≤ 1e-4); ``cuda`` (CUDA equals CPU, ≤ 1e-10, when a GPU exists); ``large-n`` (n = 1,000
   stays finite and on the simplex); ``anchor-weights`` (the anchor weights sum to 1, which the pointwise loss needs,
   and are a convex combination at the η limit); ``eta-limit`` (β = 1e-4 and the given β at the declared η limit stay
   finite and on the simplex for 50 steps); ``refusals`` (η ≤ 0, NaN or ∞, η above the limit, β < 0 or NaN, and β = 0
   where β must be positive are refused with ValueError).
2. **faithful** — the derived batched step equals an independent plain-numpy evaluation of the declared formula,
   ``ℓ_out = log_softmax(Σ_k w_k ℓ_k + c Σ_m v_m Pπ_{o_m})`` phase by phase, over 20 steps (≤ 1e-10).
3. **loss-step** — minimising the derived pairwise loss, and the pointwise loss, over free logits (L-BFGS, every
   ordered pair, exact targets) reproduces each phase's step (≤ 1e-6).
4. **llm-realisation** — the rule trained through the LLM trainer's own fitting code on a one-token model with free
   logits reproduces three steps (≤ 1e-5) (:func:`nashlab.llm_bridge.realisation_check.realisation_error`).
5. **claim** — the declared :class:`~.rule.Claim` on :data:`SUITE` at the given (η, β), and again at the declared η
   limit (``claim.eta-limit``): linear ``KL(π*_β‖π_t) ≤ C·q^t·KL(π*_β‖π_0)`` at every t until ``q^t`` reaches 1e-10
   (at most :data:`MAX_CLAIM_STEPS`); average ``DG(π̄_T) ≤ bound(hp, n, T)`` at T = 250, 500, 1000, 2000; a floor: the
   last iterate settles (``max|ℓ_T − ℓ_{T−1}| ≤ 1e-9``) at ``KL(π*_β‖π_T) > 1e-10``.
6. **behaviour** — what the last iterate does on the suite (:data:`BEHAVIOURS`), which must agree with the claim.

The suite (:data:`SUITE`) is five seeded cyclic games of n = 5 actions, each with a seeded non-uniform π_ref and a
seeded start π_0 away from the equilibrium (players start apart for a rule with a player axis). π*_β is computed by
:func:`nashlab.games.regularized_nash` (:func:`~nashlab.games.exact_nash` at β = 0), never by a rule. A rule that
does not use β (``beta_used=False``) plays the β = 0 game, and its claim and behaviour are measured there.

The report's ``fingerprint`` hashes the declaration (the source files of its functions and its numbers), the
resolved hyper-parameters and the nashlab version; reports are cached by fingerprint (:func:`cached_verify`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .feedback import ExactFeedback, SampledFeedback
from .registry import load_rule
from .rule import Rule, build_solver

#: The games of the claim and behaviour checks: ``(generator, params)``, all n = 5.
SUITE = (("cyclic", {"n": 5, "margin": 1.0}), ("cyclic", {"n": 5, "margin": 0.5}),
         ("hodge", {"n": 5, "cyclic": 1.0, "seed": 0}), ("hodge", {"n": 5, "cyclic": 0.8, "seed": 1}),
         ("hodge", {"n": 5, "cyclic": 0.9, "seed": 2}))
#: What the last iterate can do on the suite.
BEHAVIOURS = ("converges", "average only", "biased floor", "diverges")
MAX_CLAIM_STEPS = 100_000
AVERAGE_CHECKPOINTS = (250, 500, 1000, 2000)
#: KL(π*‖π_T) below this counts as converged.
CONVERGED_KL = 1e-8


@dataclass
class Check:
    name: str
    passed: bool | None
    measured: float | None
    threshold: float | None
    detail: str = ""


# ---------------------------------------------------------------------- the suite


def suite_games(dtype=torch.float64):
    """``(P [B, n, n], log π_ref [B, n], log π_0 [B, n])`` of :data:`SUITE` (seeded)."""
    from nashlab.games import make_matrix

    P = torch.as_tensor(np.stack([make_matrix(k, **p) for k, p in SUITE]), dtype=dtype)
    B, n = P.shape[0], P.shape[-1]
    g = torch.Generator().manual_seed(20261130)
    log_ref = torch.log_softmax(0.5 * torch.randn(B, n, generator=g, dtype=torch.float64), -1).to(dtype)
    log_pi0 = torch.log_softmax(1.5 * torch.randn(B, n, generator=g, dtype=torch.float64), -1).to(dtype)
    return P, log_ref, log_pi0


def _start(rule: Rule, hp: dict, log_pi0: torch.Tensor, seed: int = 1) -> torch.Tensor:
    if not rule.multiplayer:
        return log_pi0
    N = int(hp[rule.players])
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(1.5 * torch.randn(*log_pi0.shape[:-1], N, log_pi0.shape[-1], generator=g,
                                               dtype=log_pi0.dtype), -1)


def _target_beta(rule: Rule, hp: dict) -> float:
    return float(hp["beta"]) if rule.beta_used else 0.0


def _equilibrium(P: torch.Tensor, log_ref: torch.Tensor, beta: float) -> torch.Tensor:
    from nashlab.games import exact_nash, regularized_nash

    Pn, ref = P.numpy(), log_ref.exp().numpy()
    pi = regularized_nash(Pn, pi_ref=ref, beta=beta) if beta > 0 else exact_nash(Pn)
    return torch.as_tensor(np.asarray(pi), dtype=P.dtype)


def _kl(p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    return (torch.xlogy(p, p) - p * log_q).sum(-1)


def _gap(P, pi, log_ref, beta) -> torch.Tensor:
    from nashlab.games import duality_gap, reg_duality_gap

    return reg_duality_gap(P, pi, log_ref.exp(), beta) if beta > 0 else duality_gap(P, pi)


def _multi_gap(P, pis, beta=0.0) -> torch.Tensor:
    from nashlab.games import multiplayer_duality_gap

    return multiplayer_duality_gap(P, pis)


# ---------------------------------------------------------------------- runs on the suite


def _run(rule: Rule, hp: dict, steps: int, *, record_every: int = 1, deadline: float | None = None):
    """Run ``steps`` exact steps on the suite: ``(ts, log π_t per record, log π̄ per record, last two iterates)``."""
    P, log_ref, log_pi0 = suite_games()
    solver = build_solver(rule, hp)
    state = solver.init(log_ref, _start(rule, hp, log_pi0))
    fb = ExactFeedback(P)
    ts, lps, avgs = [0], [state.log_pi], [state.log_pi_avg]
    prev = state.log_pi
    for t in range(1, steps + 1):
        prev = state.log_pi
        state = solver.step(state, fb)
        if t % record_every == 0 or t == steps:
            ts.append(t)
            lps.append(state.log_pi)
            avgs.append(state.log_pi_avg)
            if not torch.isfinite(state.log_pi).all():
                break
        if deadline is not None and t % 1000 == 0 and time.monotonic() > deadline:
            break
    return P, log_ref, ts, lps, avgs, (prev, state.log_pi)


def _linear_steps(rule: Rule, hp: dict) -> int:
    q = float(rule.claim.rate(hp)) if rule.claim.kind == "linear" else 1.0
    if not 0 < q < 1 or not math.isfinite(q):
        return 2000
    return int(min(MAX_CLAIM_STEPS, max(200, math.ceil(math.log(1e-10) / math.log(q)))))


def check_claim(rule: Rule, hp: dict, name: str = "claim") -> Check:
    claim = rule.claim
    beta = _target_beta(rule, hp)
    if claim.kind == "linear":
        q, C = float(claim.rate(hp)), float(claim.constant)
        steps = _linear_steps(rule, hp)
        P, log_ref, ts, lps, _, _ = _run(rule, hp, steps)
        pi_star = _equilibrium(P, log_ref, beta)
        kl0 = _kl(pi_star, lps[0])
        worst, at = 0.0, 0
        if not q < 1:
            return Check(name, True, q, 1.0, f"vacuous here: the declared rate q = {q:.6g} is not below 1 at these "
                         "hyper-parameters, so the claim promises nothing to check")
        for t, lp in zip(ts, lps):
            if not torch.isfinite(lp).all():
                return Check(name, False, float("inf"), 1.0, f"non-finite iterate at t = {t}")
            bound = C * kl0 * (q ** t) + 1e-12
            ratio = float((_kl(pi_star, lp) / bound).max())
            if ratio > worst:
                worst, at = ratio, t
        return Check(name, worst <= 1.0 + 1e-9, worst, 1.0,
                     f"max over t ≤ {ts[-1]} and {P.shape[0]} games of KL(π*_β‖π_t) / ({C:g}·q^t·KL_0), q = {q:.6g} "
                     f"(worst at t = {at})")
    if claim.kind in ("average", "multiplayer-average"):
        T = AVERAGE_CHECKPOINTS[-1]
        P, log_ref, ts, lps, avgs, _ = _run(rule, hp, T)
        D = float((-lps[0]).amax())  # max_y log 1/π_0(y), over games (and players): ln n from the uniform start
        worst, at = 0.0, 0
        for t in AVERAGE_CHECKPOINTS:
            if t >= len(avgs):
                return Check(name, False, float("inf"), 1.0, f"non-finite iterate before t = {t}")
            avg = avgs[t].exp()
            if claim.kind == "average":
                gap = _gap(P, avg, log_ref, beta)
            else:
                gap = _multi_gap(P, avg)
            ratio = float(gap.max()) / float(claim.bound(hp, D, t))
            if ratio > worst:
                worst, at = ratio, t
        what = "DG(π̄_T)" if claim.kind == "average" else "the multiplayer gap of the average profile"
        return Check(name, worst <= 1.0, worst, 1.0, f"max over T ∈ {AVERAGE_CHECKPOINTS} and the suite of {what} / "
                     f"bound(T) (worst at T = {at})")
    # floor: settles away from π*_β
    P, log_ref, last, moving, steps = _settle(rule, hp)
    pi_star = _equilibrium(P, log_ref, beta)
    kl_T = float(_kl(pi_star, last).min())
    ok = moving <= SETTLED and kl_T > 1e-10
    return Check(name, ok, kl_T, 1e-10, f"min over the suite of KL(π*_β‖π_T) where the last iterate settles (a floor "
                 f"must stay above the threshold); at T = {steps} the last step moved {moving:.2e} (must be ≤ "
                 f"{SETTLED:g})")


#: A last iterate whose step moves no log-probability by more than this has settled.
SETTLED = 1e-11
#: The most steps the behaviour and floor checks run (in chunks of :data:`CHUNK`, stopping early).
MAX_BEHAVIOUR_STEPS = 100_000
CHUNK = 1000


def _chunks(rule: Rule, hp: dict, max_steps: int = MAX_BEHAVIOUR_STEPS):
    """Yield ``(t, state, last step's change)`` every :data:`CHUNK` steps of an exact run on the suite."""
    P, log_ref, log_pi0 = suite_games()
    solver = build_solver(rule, hp)
    state = solver.init(log_ref, _start(rule, hp, log_pi0))
    fb = ExactFeedback(P)
    yield P, log_ref, 0, state, float("inf")
    t = 0
    while t < max_steps:
        for _ in range(CHUNK):
            prev = state.log_pi
            state = solver.step(state, fb)
        t += CHUNK
        yield P, log_ref, t, state, float((state.log_pi - prev).abs().max())


def _settle(rule: Rule, hp: dict):
    for P, log_ref, t, state, moving in _chunks(rule, hp):
        if moving <= SETTLED or not torch.isfinite(state.log_pi).all():
            break
    return P, log_ref, state.log_pi, moving, t


def classify(rule: Rule, hp: dict) -> tuple[str, dict]:
    """The last iterate's behaviour on the suite (:data:`BEHAVIOURS`) and what it was read from: run in chunks of
    :data:`CHUNK` steps until π_t is within :data:`CONVERGED_KL` of π*_β (``converges``) or settles elsewhere
    (``biased floor``), at most :data:`MAX_BEHAVIOUR_STEPS`; otherwise the average iterate's gap decides between
    ``average only`` (it fell by a quarter or more over the last three quarters of the run, or is below 1e-3) and
    ``diverges``. A non-finite iterate ``diverges``."""
    beta = _target_beta(rule, hp)
    pi_star = None
    early_avg = None
    info: dict = {}
    for P, log_ref, t, state, moving in _chunks(rule, hp):
        if pi_star is None:
            pi_star = _equilibrium(P, log_ref, beta)
        last = state.log_pi
        info = {"steps": t}
        if not torch.isfinite(last).all():
            return "diverges", {**info, "reason": "non-finite iterate"}
        if rule.multiplayer:
            gap_last = float(_multi_gap(P, last.exp()).max())
            gap_avg = float(_multi_gap(P, state.log_pi_avg.exp()).max())
            info.update(gap_last=gap_last, gap_average=gap_avg)
            if gap_last <= 1e-6:
                return "converges", info
        else:
            kl_T = float(_kl(pi_star, last).max())
            gap_avg = float(_gap(P, state.log_pi_avg.exp(), log_ref, beta).max())
            info.update(kl_last=kl_T, last_step_change=moving, gap_average=gap_avg)
            if kl_T <= CONVERGED_KL:
                return "converges", info
            if moving <= SETTLED:
                return "biased floor", info
        if t == MAX_BEHAVIOUR_STEPS // 4:
            early_avg = gap_avg
    info["gap_average_at_quarter"] = early_avg
    if gap_avg <= 0.75 * early_avg or gap_avg <= 1e-3:
        return "average only", info
    return "diverges", info


EXPECTED_BEHAVIOUR = {"linear": ("converges",), "floor": ("biased floor",),
                      "average": ("average only", "converges"), "multiplayer-average": ("average only", "converges")}


# ---------------------------------------------------------------------- an independent evaluation of a declaration


def numpy_step(rule: Rule, hp: dict, P: np.ndarray, log_ref: np.ndarray, ell: np.ndarray, past: list, past_g: list):
    """One step of the declared formula in plain numpy (float64), independent of :func:`~.rule.build_solver`.

    ``ell``: ``[n]`` (``[N, n]`` with a player axis); ``past``: ``[ℓ_{t−1}, …]``; ``past_g``: ``[g_{t−1}, …]``.
    Returns ``(ℓ_{t+1}, phase outputs, g_t)``.
    """
    def lsm(x):
        m = x.max(-1, keepdims=True)
        return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))

    def win(lp):
        return np.exp(lp) @ P.T  # rows: (P π)_y = Σ_z P[y, z] π(z)

    def others(x):
        N = x.shape[-2]
        return np.stack([np.delete(x, i, axis=-2).mean(-2) for i in range(N)], -2)

    g_t = win(ell)
    outs = []
    for anchors, c, opps in rule.resolved_phases(hp):
        a = np.zeros_like(ell)
        for t, w in anchors:
            src = {"iterate": ell, "ref": np.broadcast_to(log_ref, ell.shape)}.get(t.kind)
            if t.kind == "past":
                src = past[t.lag - 1] if t.lag <= len(past) else ell
            if t.kind == "others":
                src = others(ell)
            a = a + w * src
        g = np.zeros_like(ell)
        for t, v in opps:
            if t.kind == "iterate":
                gs = g_t
            elif t.kind == "others":
                gs = others(g_t)
            elif t.kind == "past":
                gs = past_g[t.lag - 1] if t.lag <= len(past_g) else (past_g[-1] if past_g else g_t)
            elif t.kind == "half":
                gs = win(outs[-1])
            else:
                gs = win(lsm(a))
            g = g + v * gs
        outs.append(lsm(a + c * g))
    return outs[-1], outs, g_t


def _numpy_trajectory(rule, hp, P, log_ref, ell0, steps):
    lag, win_lag = rule.lags(hp)
    ell, past, past_g, out = ell0, [ell0] * lag, [], [ell0]
    for _ in range(steps):
        nxt, _, g_t = numpy_step(rule, hp, P, log_ref, ell, past, past_g)
        past = ([ell] + past)[:lag]
        past_g = ([g_t] + (past_g or [g_t] * win_lag))[:win_lag]
        ell = nxt
        out.append(ell)
    return out


def check_faithful(rule: Rule, hp: dict) -> Check:
    P, log_ref, log_pi0 = suite_games()
    start = _start(rule, hp, log_pi0)
    solver = build_solver(rule, hp)
    worst = 0.0
    for b in (0, 3):
        st = solver.init(log_ref[b], start[b])
        fb = ExactFeedback(P[b])
        want = _numpy_trajectory(rule, hp, P[b].numpy(), log_ref[b].numpy(), st.log_pi.numpy(), 20)
        for t in range(1, 21):
            st = solver.step(st, fb)
            worst = max(worst, float(np.abs(st.log_pi.numpy() - want[t]).max()))
    return Check("faithful", worst <= 1e-10, worst, 1e-10,
                 "max |log π_t| difference, derived torch step vs plain-numpy evaluation of the declaration, "
                 "20 steps on 2 suite games")


# ---------------------------------------------------------------------- loss ≡ step


def check_loss_step(rule: Rule, hp: dict) -> Check:
    """Minimise each phase's derived losses over free logits; compare with the phase's closed-form output."""
    P, log_ref, log_pi0 = suite_games()
    b = 3
    Pn, ref = P[b].numpy(), log_ref[b].numpy()
    ell0 = _start(rule, hp, log_pi0)[b].numpy()
    # a state with distinct past iterates: two numpy steps in
    traj = _numpy_trajectory(rule, hp, Pn, ref, ell0, 2)
    ell, past = traj[-1], list(reversed(traj[:-1]))
    lag, win_lag = rule.lags(hp)
    past = (past + [traj[0]] * lag)[:lag]
    past_g = [np.exp(x) @ Pn.T for x in reversed(traj[:-1])][:win_lag]
    _, outs, g_t = numpy_step(rule, hp, Pn, ref, ell, past, past_g)
    worst_pair = worst_point = 0.0
    for k, (anchors, c, opps) in enumerate(rule.resolved_phases(hp)):
        loss = rule.loss(hp, k)
        # the phase's win rate g and its anchors' log-probs per action, from the independent evaluation
        a_src = _sources(rule, ell, ref, past)
        want = outs[k]
        a = sum(w * a_src[t.source if t.kind == "past" else t.kind] for t, w in anchors)
        g = _phase_win_rate(rule, hp, k, Pn, ell, outs, past_g, g_t, a)
        rows = [want] if want.ndim == 1 else list(want)
        for i, w_row in enumerate(rows):
            srcs = {s: torch.as_tensor(np.array(v if v.ndim == 1 else v[i])) for s, v in a_src.items()}
            gi = torch.as_tensor(g if g.ndim == 1 else g[i])
            worst_pair = max(worst_pair, _fit_pairwise(loss, srcs, gi, w_row))
            worst_point = max(worst_point, _fit_pointwise(loss, srcs, gi, w_row))
    worst = max(worst_pair, worst_point)
    return Check("loss-step", worst <= 1e-6, worst, 1e-6,
                 f"max |log π| difference between each phase's step and the minimiser over free logits of its "
                 f"pairwise ({worst_pair:.1e}) and pointwise ({worst_point:.1e}) loss")


def _sources(rule, ell, ref, past):
    out = {"iterate": ell, "ref": np.broadcast_to(ref, ell.shape)}
    for j, p in enumerate(past, 1):
        out[f"past:{j}"] = p
    if ell.ndim == 2:
        N = ell.shape[0]
        out["others"] = np.stack([np.delete(ell, i, axis=0).mean(0) for i in range(N)])
    return out


def _phase_win_rate(rule, hp, k, P, ell, outs, past_g, g_t, a):
    """The phase's ``g = Σ_m v_m Pπ_{o_m}`` (numpy); ``a`` is its anchor combination (for a mixture opponent)."""
    _, _, opps = rule.resolved_phases(hp)[k]
    g = np.zeros_like(ell)
    for t, v in opps:
        if t.kind == "iterate":
            gs = g_t
        elif t.kind == "others":
            N = ell.shape[0]
            gs = np.stack([np.delete(g_t, i, axis=0).mean(0) for i in range(N)])
        elif t.kind == "past":
            gs = past_g[t.lag - 1] if t.lag <= len(past_g) else (past_g[-1] if past_g else g_t)
        elif t.kind == "half":
            gs = np.exp(outs[k - 1]) @ P.T
        else:  # the normalised geometric mixture of the anchors
            m = a.max(-1, keepdims=True)
            gs = np.exp(a - m - np.log(np.exp(a - m).sum(-1, keepdims=True))) @ P.T
        g = g + v * gs
    return g


def _lbfgs(fn, x0: torch.Tensor) -> torch.Tensor:
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=500, tolerance_grad=1e-14, tolerance_change=1e-16,
                            history_size=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        v = fn(x)
        v.backward()
        return v

    for _ in range(3):
        opt.step(closure)
    return x.detach()


def _fit_pairwise(loss, srcs: dict, g: torch.Tensor, want: np.ndarray) -> float:
    n = g.shape[-1]
    yy, yp = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    yy, yp = yy.reshape(-1), yp.reshape(-1)
    ay = {s: v[yy] for s, v in srcs.items()}
    ayp = {s: v[yp] for s, v in srcs.items()}
    target = g[yy] - g[yp]
    theta = _lbfgs(lambda th: loss(th[yy], th[yp], ay, ayp, target) * n, torch.zeros(n, dtype=torch.float64))
    return float((torch.log_softmax(theta, -1).numpy() - want).__abs__().max())


def _fit_pointwise(loss, srcs: dict, g: torch.Tensor, want: np.ndarray) -> float:
    n = g.shape[-1]
    theta = _lbfgs(lambda th: loss.pointwise(th, srcs, g, 0.0).sum(), torch.zeros(n, dtype=torch.float64))
    return float((torch.log_softmax(theta, -1).numpy() - want).__abs__().max())


# ---------------------------------------------------------------------- conformance


def _problem(n, B=(), dtype=torch.float64, seed=0, rule=None, hp=None):
    from nashlab.games import make_matrix

    rng = np.random.default_rng(seed)
    if B:
        P = np.stack([make_matrix("egpo", n=n, seed=seed + i) for i in range(B[0])])
    else:
        P = make_matrix("egpo", n=n, seed=seed)
    ref = torch.log_softmax(torch.tensor(rng.normal(size=B + (n,))), -1).to(dtype)
    players = (int(hp[rule.players]),) if rule is not None and rule.multiplayer else ()
    l0 = torch.log_softmax(torch.tensor(rng.normal(size=B + players + (n,)) * 3), -1).to(dtype)
    return torch.tensor(P, dtype=dtype), ref, l0


def _on_simplex(lp: torch.Tensor) -> float:
    """Worst violation: non-finite → inf, else ``max |Σπ − 1|``."""
    if not torch.isfinite(lp).all():
        return float("inf")
    return float((lp.double().exp().sum(-1) - 1).abs().max())


def _steps(solver, state, fb, k):
    for _ in range(k):
        state = solver.step(state, fb)
    return state


def check_purity(rule, hp) -> Check:
    from nashlab.games import PreferenceOracle

    solver = build_solver(rule, hp)
    P, ref, l0 = _problem(7, rule=rule, hp=hp)
    copies = [t.clone() for t in (P, ref, l0)]
    worst = 0.0
    for fb in (ExactFeedback(P), SampledFeedback(PreferenceOracle(P, seed=5), 16)):
        s0 = _steps(solver, solver.init(ref, l0), fb, 2)
        keep = s0.log_pi.clone()
        a = _steps(solver, s0, fb, 3)
        b = _steps(solver, s0, fb, 3)
        worst = max(worst, float((a.log_pi - b.log_pi).abs().max()), float((s0.log_pi - keep).abs().max()))
    for x, y in zip((P, ref, l0), copies):
        worst = max(worst, float((x - y).abs().max()))
    return Check("conformance.purity", worst == 0.0, worst, 0.0,
                 "max difference between two 3-step runs from the same state and feedback (exact and sampled:16), "
                 "and of the inputs and the state before and after")


def check_batched(rule, hp) -> Check:
    solver = build_solver(rule, hp)
    P, ref, l0 = _problem(6, B=(4,), rule=rule, hp=hp, seed=2)
    batch = _steps(solver, solver.init(ref, l0), ExactFeedback(P), 5).log_pi
    scale = max(1.0, float(batch.abs().max()))
    worst = 0.0
    for i in range(4):
        one = _steps(solver, solver.init(ref[i], l0[i]), ExactFeedback(P[i]), 5).log_pi
        worst = max(worst, float((batch[i] - one).abs().max()) / scale)
    return Check("conformance.batched", worst <= 1e-12, worst, 1e-12,
                 "4 games × 5 steps, batch vs one at a time: max |log π| difference / max(1, max |log π|)")


def check_dtype(rule, hp) -> Check:
    solver = build_solver(rule, hp)
    outs = []
    for dt in (torch.float64, torch.float32):
        P, ref, l0 = _problem(6, rule=rule, hp=hp, dtype=dt, seed=4)
        st = _steps(solver, solver.init(ref, l0), ExactFeedback(P), 20)
        if st.log_pi.dtype != dt:
            return Check("conformance.dtype", False, None, 1e-4, f"{dt} input gave a {st.log_pi.dtype} state")
        outs.append(st.log_pi.double().exp())
    d = float((outs[0] - outs[1]).abs().max())
    return Check("conformance.dtype", d <= 1e-4, d, 1e-4, "max |π| difference float32 vs float64 after 20 steps")


def check_cuda(rule, hp) -> Check:
    if not torch.cuda.is_available():
        return Check("conformance.cuda", None, None, 1e-10, "no CUDA device here")
    solver = build_solver(rule, hp)
    P, ref, l0 = _problem(6, rule=rule, hp=hp, seed=6)
    cpu = _steps(solver, solver.init(ref, l0), ExactFeedback(P), 10).log_pi
    gpu = _steps(solver, solver.init(ref.cuda(), l0.cuda()), ExactFeedback(P.cuda()), 10).log_pi
    if gpu.device.type != "cuda":
        return Check("conformance.cuda", False, None, 1e-10, "the state left the GPU")
    d = float((gpu.cpu() - cpu).abs().max())
    return Check("conformance.cuda", d <= 1e-10, d, 1e-10, "max |log π| difference CUDA vs CPU after 10 steps")


def check_large_n(rule, hp) -> Check:
    solver = build_solver(rule, hp)
    P, ref, l0 = _problem(1000, rule=rule, hp=hp, seed=8)
    v = _on_simplex(_steps(solver, solver.init(ref, l0), ExactFeedback(P), 5).log_pi)
    return Check("conformance.large-n", v <= 1e-9, v, 1e-9, "n = 1,000, 5 steps: max |Σπ − 1| (∞ if not finite)")


def _limit_hp(rule: Rule, hp: dict, beta: float) -> dict | None:
    opts = {k: v for k, v in hp.items() if k not in ("eta", "beta", "rho")}
    try:
        base = rule.hparams(eta=None, beta=beta, **opts) if rule.resolve is None else None
    except ValueError:
        base = None
    probe = dict(hp, beta=beta)
    if rule.eta_max is None:
        return None
    eta = float(rule.eta_max(probe if base is None else base))
    if not (eta > 0 and math.isfinite(eta)):
        return None
    try:
        return rule.hparams(eta=eta, beta=beta, **opts)
    except ValueError:
        return None


def check_anchor_weights(rule, hp) -> Check:
    worst, where = 0.0, ""
    cases = [("given", hp)]
    lim = _limit_hp(rule, hp, hp["beta"])
    if lim is not None:
        cases.append(("η limit", lim))
    for label, h in cases:
        for k, (anchors, _, _) in enumerate(rule.resolved_phases(h)):
            s = sum(w for _, w in anchors)
            bad = abs(s - 1.0)
            if label == "η limit":
                bad = max(bad, max(max(-w, w - 1.0, 0.0) for _, w in anchors))
            if bad > worst:
                worst, where = bad, f"{label}, phase {k + 1}"
    return Check("conformance.anchor-weights", worst <= 1e-12, worst, 1e-12,
                 "|Σ_k w_k − 1| at the given hyper-parameters; at the η limit also how far a weight leaves [0, 1]"
                 + (f" (worst: {where})" if where else ""))


def check_eta_limit(rule, hp) -> Check:
    if rule.eta_max is None:
        return Check("conformance.eta-limit", True, 0.0, 1e-9, "no η limit declared (any η > 0): nothing to probe")
    worst, tried = 0.0, []
    for beta in sorted({1e-4, float(hp["beta"])}):
        if rule.beta_positive and beta <= 0:
            continue
        lim = _limit_hp(rule, hp, beta)
        if lim is None:
            continue
        tried.append(f"β={beta:g}, η={lim['eta']:.4g}")
        solver = build_solver(rule, lim)
        P, ref, l0 = _problem(50, rule=rule, hp=lim, seed=9)
        worst = max(worst, _on_simplex(_steps(solver, solver.init(ref, l0), ExactFeedback(P), 50).log_pi))
    return Check("conformance.eta-limit", worst <= 1e-9, worst, 1e-9,
                 f"50 steps at the declared η limit ({'; '.join(tried) or 'none reachable'}), n = 50: max |Σπ − 1|")


def check_refusals(rule, hp) -> Check:
    opts = {k: v for k, v in hp.items() if k not in ("eta", "beta", "rho")}
    bad = [("eta", 0.0), ("eta", -1.0), ("eta", float("nan")), ("eta", float("inf")), ("beta", -0.1),
           ("beta", float("nan"))]
    if rule.beta_positive:
        bad.append(("beta", 0.0))
    if rule.eta_max is not None:
        lim = float(rule.eta_max(hp))
        if math.isfinite(lim):
            bad.append(("eta", lim * 1.01))
    accepted = []
    for key, value in bad:
        kw = {"eta": hp["eta"], "beta": hp["beta"], **opts, key: value}
        try:
            rule.hparams(**kw)
            accepted.append(f"{key}={value:g}")
        except ValueError:
            pass
    return Check("conformance.refusals", not accepted, float(len(accepted)), 0.0,
                 f"{len(bad)} bad hyper-parameters tried; accepted: {', '.join(accepted) or 'none'}")


# ---------------------------------------------------------------------- LLM realisation


def check_llm_realisation(rule, hp) -> Check:
    try:
        from nashlab.llm_bridge.realisation_check import realisation_error
    except ImportError as e:
        return Check("llm-realisation", None, None, 1e-5, f"not run: {e} (install nashlab[llm])")
    err, detail = realisation_error(rule, hp)
    return Check("llm-realisation", err <= 1e-5, err, 1e-5, detail)


# ---------------------------------------------------------------------- the report


def fingerprint(rule: Rule, hp: dict) -> str:
    """sha256 of the declaration (the source files of its functions, its numbers), ``hp`` and the nashlab version."""
    from nashlab import __version__

    h = hashlib.sha256()
    files = set()

    def add_fn(f):
        if callable(f):
            try:
                files.add(inspect.getsourcefile(f))
            except TypeError:
                h.update(repr(f).encode())

    for ph in rule.phases:
        for part in (ph.anchors, ph.opponents):
            for t in (part if not callable(part) else ()):
                add_fn(t.weight)
                h.update(t.source.encode())
            add_fn(part)
        add_fn(ph.step)
    for f in (rule.claim.rate, rule.claim.bound, rule.eta_max, rule.resolve, rule.loss_override):
        add_fn(f)
    for path in sorted(p for p in files if p):
        try:
            with open(path, "rb") as fh:
                h.update(fh.read())
        except OSError:
            h.update(path.encode())
    h.update(repr((rule.name, rule.update, rule.claim.kind, rule.claim.constant, rule.eta_default,
                   rule.beta_default, rule.beta_positive, rule.beta_used, rule.players)).encode())
    h.update(json.dumps(hp, sort_keys=True, default=str).encode())
    h.update(__version__.encode())
    return h.hexdigest()[:32]


def _limit_claim(rule: Rule, hp: dict) -> Check | None:
    lim = _limit_hp(rule, hp, hp["beta"])
    if lim is None or abs(lim["eta"] - hp["eta"]) <= 1e-12 * lim["eta"]:
        return None
    c = check_claim(rule, lim, "claim.eta-limit")
    c.detail += f" (at the declared η limit {lim['eta']:.6g})"
    return c


def verify(spec, eta: float | None = None, beta: float | None = None, *, llm: bool = True, trusted: bool = True,
           **options) -> dict:
    """Run every check on a rule at (η, β, options) and return the report (see the module docstring).

    The checks run on one torch thread (restored afterwards): their tensors are tiny, and a multi-threaded kernel on
    a shared machine spends more time waking its threads than computing (70× slower measured on 2 busy cores).

    Raises:
        ValueError: unknown rule or hyper-parameters the rule refuses.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _verify(spec, eta, beta, llm=llm, trusted=trusted, **options)
    finally:
        torch.set_num_threads(before)


def resolve_hparams(rule: Rule, eta=None, beta=None, **options) -> dict:
    """The rule's hyper-parameters for a check: its default η, or its η limit at this β where the default exceeds it
    (MMD's default η = 0.4 is above its limit 4β at β = 0.01)."""
    if eta is None and rule.eta_max is not None and rule.resolve is None:
        try:
            return rule.hparams(beta=beta, **options)
        except ValueError as e:
            if not str(e).startswith("eta"):
                raise
            b = rule.beta_default if beta is None else beta
            probe = {"beta": float(b), **{o.name: options.get(o.name, o.default) for o in rule.options}}
            eta = float(rule.eta_max(probe))
    return rule.hparams(eta, beta, **options)


def _verify(spec, eta, beta, *, llm: bool, trusted: bool, **options) -> dict:
    rule = load_rule(spec, trusted=trusted)
    hp = resolve_hparams(rule, eta, beta, **options)
    t0 = time.monotonic()
    checks: list[Check] = []
    for fn in (check_purity, check_batched, check_dtype, check_cuda, check_large_n, check_anchor_weights,
               check_eta_limit, check_refusals, check_faithful, check_loss_step):
        checks.append(_guard(fn, rule, hp))
    if llm:
        checks.append(_guard(check_llm_realisation, rule, hp))
    checks.append(_guard(check_claim, rule, hp))
    lim = _guard(_limit_claim, rule, hp)
    if lim is not None:
        checks.append(lim)
    behaviour, info = classify(rule, hp)
    expected = EXPECTED_BEHAVIOUR[rule.claim.kind]
    checks.append(Check("behaviour", behaviour in expected, None, None,
                        f"{behaviour} on the suite ({', '.join(f'{k} {v:.3g}' if isinstance(v, float) else f'{k} {v}' for k, v in info.items())}); "
                        f"a {rule.claim.kind} claim expects {' or '.join(expected)}"))
    passed = all(c.passed is not False for c in checks)
    return {"rule": rule.name, "spec": spec if isinstance(spec, str) else rule.name,
            "hparams": hp, "fingerprint": fingerprint(rule, hp), "passed": passed, "behaviour": behaviour,
            "claim": {"kind": rule.claim.kind, "text": rule.claim.text}, "seconds": round(time.monotonic() - t0, 2),
            "checks": [asdict(c) for c in checks]}


def _guard(fn, rule, hp):
    """A check that raises reports a failure naming the exception (a user's rule may raise anything)."""
    try:
        return fn(rule, hp)
    except (ValueError, RuntimeError, ArithmeticError, IndexError, KeyError, TypeError) as e:
        name = fn.__name__.replace("check_", "").replace("_", "-")
        return Check(name, False, None, None, f"raised {type(e).__name__}: {e}")


def first_failure(report: dict) -> dict | None:
    return next((c for c in report["checks"] if c["passed"] is False), None)


# ---------------------------------------------------------------------- cache


def cache_dir() -> str:
    """``$NASHLAB_CACHE_DIR/verify``, else ``$XDG_CACHE_HOME/nashlab/verify``, else ``~/.cache/nashlab/verify``."""
    root = os.environ.get("NASHLAB_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "nashlab")
    return os.path.join(root, "verify")


def cached_verify(spec, eta=None, beta=None, *, trusted: bool = True, refresh: bool = False, **options) -> dict:
    """:func:`verify`, with reports cached by fingerprint (a JSON file per fingerprint; a corrupt one is redone)."""
    rule = load_rule(spec, trusted=trusted)
    hp = resolve_hparams(rule, eta, beta, **options)
    fp = fingerprint(rule, hp)
    path = os.path.join(cache_dir(), f"{fp}.json")
    if not refresh:
        try:
            with open(path, encoding="utf-8") as f:
                report = json.load(f)
            if report.get("fingerprint") == fp and isinstance(report.get("checks"), list):
                report["cached"] = True
                return report
        except (OSError, ValueError):
            pass
    report = verify(rule, hp["eta"], beta, **options)
    report["spec"] = spec if isinstance(spec, str) else rule.name
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(_finite(report), f, allow_nan=False, default=str)
        os.replace(tmp, path)
    except (OSError, ValueError):
        pass  # a read-only cache only costs time
    report["cached"] = False
    return report


def _finite(x):
    """Non-finite floats as ``None`` (strict JSON), recursively."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(verify(sys.argv[1]), indent=1, default=str))
