#!/usr/bin/env python3
"""Hand-written mutation check of games/ and of the rules (solvers/): does the test suite notice a small wrong edit of the code it guards?

Each mutant is data: the file, an original snippet, its replacement and what the edit means (a flipped sign, an
off-by-one, a wrong constant, a dropped term, a swapped argument), plus the few test files that guard that code.
The script copies the working tree (tracked and untracked, non-ignored files) to a temporary folder, checks that the
unmutated copy passes every test file the mutants use, then applies the mutants ONE AT A TIME in the copy, runs that
mutant's tests with a timeout, and restores the file. The repository itself is never written.

A mutant is *killed* when its tests fail (or time out), *survived* when they pass. A mutant whose original snippet
does not occur exactly once in its file is refused (reported, never run) and the script exits 1.

The copy is imported through symbolic links ``<copy>/nashlab/<part>`` → ``<copy>/<folder>`` that mirror pyproject's
``package-dir`` mapping, with the copy's root first on ``sys.path`` (ahead of the editable install, whose finder comes
after the path finder); the script checks that ``nashlab.games`` resolves inside the copy before it runs anything.

Usage (about 10 minutes on 2 cores for all mutants, one core at a time)::

    .venv/bin/python scripts/mutation_check.py                  # all mutants
    .venv/bin/python scripts/mutation_check.py --only M01 M07   # a few
    .venv/bin/python scripts/mutation_check.py --list           # the mutants, nothing run
    .venv/bin/python scripts/mutation_check.py --json out.json  # also write the results
    .venv/bin/python scripts/mutation_check.py --ref HEAD       # the last commit, not the working tree
    .venv/bin/python scripts/mutation_check.py --only S01 --exclude tests/solvers/test_solvers_trajectories.py

Exit status: 0 when every mutant ran (killed or survived; the score is printed), 1 when a mutant was refused or the
baseline failed, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KILLERS = "tests/games/test_mutant_killers.py"

METRICS = ("tests/games/test_metrics.py",)
NASH = ("tests/games/test_nash.py", "tests/games/test_nash_scale.py")
SCALE = ("tests/games/test_nash_scale.py",)
PREF = ("tests/games/test_preference.py",)
ORACLE = ("tests/games/test_oracle.py",)
SOLVER_KILLERS = "tests/solvers/test_solvers_mutant_killers.py"
TRAJ = ("tests/solvers/test_solvers_trajectories.py",)
FAITHFUL = ("tests/solvers/test_solvers_faithful.py",)
LOSS = ("tests/solvers/test_solvers_loss_step.py",)
RULE_TESTS = TRAJ + FAITHFUL
CONFORMANCE = ("tests/solvers/test_solvers_conformance.py",)
#: Tests left out of every run: they time signals against child processes (Ctrl-C handling, not equilibrium maths)
#: and failed once on the unmutated copy on a loaded machine.
DESELECT = (
    "tests/games/test_nash_scale.py::test_call_interruptible_keyboard_interrupt_kills_child",
    "tests/games/test_nash_scale.py::test_ctrl_c_stops_a_long_exact_nash_cli",
)


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    original: str
    replacement: str
    description: str
    tests: tuple[str, ...]


MUTANTS = [
    # ---- games/metrics.py: win rates, KL, DG_0, DG_β, the multiplayer gap
    Mutant("M01", "games/metrics.py", "return _out((2.0 * g.amax(-1) - 1.0).clamp_min(0.0), is_np)",
           "return _out((1.0 * g.amax(-1) - 0.5).clamp_min(0.0), is_np)",
           "wrong constant: DG_0 = max_y (Pπ)_y − ½ (half the gap)", METRICS),
    Mutant("M02", "games/metrics.py", "return _out((2.0 * g.amax(-1) - 1.0).clamp_min(0.0), is_np)",
           "return _out((2.0 * g.amin(-1) - 1.0).clamp_min(0.0), is_np)",
           "max → min in DG_0", METRICS),
    Mutant("M03", "games/metrics.py", "return _out((P @ pi.unsqueeze(-1)).squeeze(-1), is_np)",
           "return _out((P.transpose(-1, -2) @ pi.unsqueeze(-1)).squeeze(-1), is_np)",
           "swapped argument: win rates Pᵀπ instead of Pπ", METRICS),
    Mutant("M04", "games/metrics.py", "return _out(_xlogy_ratio(p, q).sum(-1).clamp_min(0.0), is_np)",
           "return _out(_xlogy_ratio(q, p).sum(-1).clamp_min(0.0), is_np)",
           "swapped argument: kl(p, q) computes KL(q‖p)", METRICS),
    Mutant("M05", "games/metrics.py", "p * (torch.log(torch.where(p > 0, p, 1.0)) - torch.log(q))",
           "p * (torch.log(torch.where(p > 0, p, 1.0)) + torch.log(q))",
           "flipped sign: p log(p·q) in every KL", METRICS),
    Mutant("M06", "games/metrics.py", "    return kl(pi_star_beta, pi)", "    return kl(pi, pi_star_beta)",
           "swapped argument: kl_to_nash = KL(π‖π*_β)", METRICS),
    Mutant("M07", "games/metrics.py", "return _out(beta * torch.logsumexp(torch.log(pi_ref) + g / beta, dim=-1), is_np)",
           "return _out(beta * torch.logsumexp(g / beta, dim=-1), is_np)",
           "dropped term: log π_ref missing from the regularised best-response value", METRICS),
    Mutant("M08", "games/metrics.py", "        return _out(g.amax(-1), is_np)", "        return _out(g.mean(-1), is_np)",
           "max → mean: best_response_value at β = 0", METRICS),
    Mutant("M09", "games/metrics.py", "gap = 2.0 * v + 2.0 * beta * _xlogy_ratio(pi, pi_ref).sum(-1) - 1.0",
           "gap = 2.0 * v - 2.0 * beta * _xlogy_ratio(pi, pi_ref).sum(-1) - 1.0",
           "flipped sign of the KL term of DG_β", METRICS),
    Mutant("M10", "games/metrics.py", "gap = 2.0 * v + 2.0 * beta * _xlogy_ratio(pi, pi_ref).sum(-1) - 1.0",
           "gap = 2.0 * v - 1.0", "dropped term: DG_β without 2β KL(π‖π_ref)", METRICS),
    Mutant("M11", "games/metrics.py", "    if beta == 0.0:\n        return duality_gap(P, pi)\n",
           "    if beta == 0.0:\n        return duality_gap(P, pi_ref)\n",
           "swapped argument: DG_β at β = 0 evaluates π_ref", METRICS),
    Mutant("M12", "games/metrics.py", "r = (g.sum(-2, keepdim=True) - g) / (N - 1)", "r = (g.sum(-2, keepdim=True) - g) / N",
           "off-by-one: the multiplayer mean over the others divides by N", METRICS),
    Mutant("M13", "games/metrics.py", "value = value - beta * _xlogy_ratio(pis, ref).sum(-1)",
           "value = value + beta * _xlogy_ratio(pis, ref).sum(-1)",
           "flipped sign: the multiplayer player's own KL penalty", METRICS),
    # ---- games/nash.py: exact and regularised equilibria, certificates
    Mutant("M14", "games/nash.py", "return pi, 2.0 * g.max(-1) - 1.0, (pi * np.abs(g - 0.5)).max(-1), method",
           "return pi, 2.0 * g.max(-1) - 0.5, (pi * np.abs(g - 0.5)).max(-1), method",
           "wrong constant: exact_nash's certified DG_0 is off by ½", NASH),
    Mutant("M15", "games/nash.py", "for b in np.flatnonzero(~(gap <= CERT_GAP)):", "for b in np.flatnonzero(gap > 1.0):",
           "dropped fallback: an uncertified interior-point answer is returned as is", NASH),
    Mutant("M16", "games/nash.py", "    return 2.0 * float((P @ pi).max()) - 1.0", "    return 2.0 * float((P @ pi).min()) - 1.0",
           "max → min: the LP path's gap criterion", NASH),
    Mutant("M17", "games/nash.py", "F = log_pi - log_pi_ref - P @ np.exp(log_pi) / beta",
           "F = log_pi - log_pi_ref + P @ np.exp(log_pi) / beta",
           "flipped sign: the continuation path's fixed-point residual", NASH),
    Mutant("M18", "games/nash.py", 'F = log_pi - log_ref - np.einsum("bij,bj->bi", flatP, pi) / beta',
           'F = log_pi - log_ref - np.einsum("bji,bj->bi", flatP, pi) / beta',
           "swapped indices: the regularised certificate's residual uses Pᵀπ", NASH),
    Mutant("M19", "games/nash.py", "step = np.linalg.solve(eye - PD / beta, -F)", "step = np.linalg.solve(eye + PD / beta, -F)",
           "flipped sign: the continuation path's Newton Jacobian", NASH),
    Mutant("M20", "games/nash.py", "    support = np.flatnonzero(pi > 1e-9)\n", "    support = np.flatnonzero(pi > 1e-2)\n",
           "wrong constant: the LP polish drops support actions below 1e-2", NASH),
    # ---- games/nash_scale.py: the batched interior-point and Newton kernels
    Mutant("M21", "games/nash_scale.py", "r = 1.5 * z.sum(-1, keepdims=True) - Pz - 1.0 - w",
           "r = 1.5 * z.sum(-1, keepdims=True) - Pz + 1.0 - w",
           "flipped sign: the interior point's residual M z − 1 − w", SCALE),
    Mutant("M22", "games/nash_scale.py", "dz, dw = direction(-z * w - dz * dw + sigma * mu[..., None])",
           "dz, dw = direction(-z * w - dz * dw - sigma * mu[..., None])",
           "flipped sign: Mehrotra's centring term σμ (pushes toward the boundary instead of the central path)", SCALE),
    Mutant("M23", "games/nash_scale.py", "F = log_pi - log_ref - ops.mv(P, xp.exp(log_pi)) / beta",
           "F = log_pi - log_ref + ops.mv(P, xp.exp(log_pi)) / beta",
           "flipped sign: the batched Newton residual", SCALE),
    Mutant("M24", "games/nash_scale.py", "J *= pi[..., None, :] * (-1.0 / beta)", "J *= pi[..., None, :] * (1.0 / beta)",
           "flipped sign: the batched Newton Jacobian (torch path)", SCALE),
    Mutant("M25", "games/nash_scale.py",
           "K = np.asfortranarray(1.5 - P[b][s[:, None], s])", "K = np.asfortranarray(1.0 - P[b][s[:, None], s])",
           "wrong constant: the support polish solves (1 − P)z = 1 instead of (1.5 − P)z = 1", SCALE),
    Mutant("M39", "games/nash_scale.py", "step = _newton_steps(Pa, g, pi * (-1.0 / beta), -Fa, run)",
           "step = _newton_steps(Pa, g, pi * (1.0 / beta), -Fa, run)",
           "flipped sign: the batched Newton Jacobian (numpy path)", SCALE),
    # ---- games/preference.py: validation
    Mutant("M26", "games/preference.py", "in_range = bool(lo >= 0.0) and bool(hi <= 1.0)",
           "in_range = bool(lo >= 0.0) and bool(hi <= 1.5)",
           "wrong constant: entries up to 1.5 skip the [0, 1] check", PREF),
    Mutant("M27", "games/preference.py", "worst = max(worst, float(r.max()))", "worst = float(r.max())",
           "dropped term: only the last chunk of a batch counts in max |P + Pᵀ − 1|", PREF),
    Mutant("M28", "games/preference.py", "if arr.ndim < 1 or arr.shape[-1] != n:", "if arr.ndim < 1 or arr.shape[-1] < n:",
           "off-by-one: a reference policy longer than n passes", PREF),
    Mutant("M29", "games/preference.py", "if not (value >= 0 and np.isfinite(value)):",
           "if not (value >= 0 or np.isfinite(value)):", "and → or: β = inf and β < 0 pass", PREF),
    Mutant("M30", "games/preference.py", "            if (pi_ref <= 0).any():", "            if (pi_ref < 0).any():",
           "off-by-one (≤ → <): a reference policy with a zero entry passes", PREF),
    Mutant("M31", "games/preference.py", "np.clip(0.5 * (M + 1.0 - np.swapaxes(M, -1, -2)), 0.0, 1.0)",
           "np.clip(0.5 * (M + 1.0 - M), 0.0, 1.0)", "dropped term: symmetrize ignores Mᵀ", PREF),
    # ---- games/oracle.py: sampling
    Mutant("M32", "games/oracle.py",
           "return torch.binomial(counts, g.clamp(0.0, 1.0), generator=self.generator) / num_comparisons",
           "return torch.binomial(counts, g.clamp(0.0, 1.0), generator=self.generator) / (num_comparisons + 1)",
           "off-by-one: the hard win rate divides by M + 1", ORACLE),
    Mutant("M33", "games/oracle.py", "g = (self.P.expand(*batch, n, n) @ pi_b.unsqueeze(-1)).squeeze(-1)",
           "g = (self.P.expand(*batch, n, n).transpose(-1, -2) @ pi_b.unsqueeze(-1)).squeeze(-1)",
           "swapped argument: hard win rates estimate Pᵀπ", ORACLE),
    Mutant("M34", "games/oracle.py", "flat = (y * n + y_prime).to(torch.long)", "flat = (y_prime * n + y).to(torch.long)",
           "swapped argument: compare(y, y') answers P[y', y]", ORACLE),
    Mutant("M35", "games/oracle.py", "for k in range(pi.shape[-1] - 1):", "for k in range(pi.shape[-1] - 2):",
           "off-by-one: the multinomial chain stops one action early", ORACLE),
    Mutant("M36", "games/oracle.py", "return torch.gather(self.P.expand(*batch, n, n), -1, z).mean(-1)",
           "return torch.gather(self.P.expand(*batch, n, n).transpose(-1, -2), -1, z).mean(-1)",
           "swapped argument: soft win rates (direct draws) read P[z, y]", ORACLE),
    Mutant("M37", "games/oracle.py", "wins = c * P if labels == \"soft\" else",
           "wins = c * P.transpose(-1, -2) if labels == \"soft\" else",
           "swapped argument: shared soft win rates read P[z, y]", ORACLE),
    Mutant("M38", "games/oracle.py", "        self.queries += y.shape[-1]\n", "        self.queries += 1\n",
           "wrong count: compare counts one query per call, not per pair", ORACLE),
    # ---- solvers/rule.py: the derived tabular step (build_solver), the state it keeps, the derived loss
    Mutant("S01", "solvers/rule.py", "            out = prox(a, c, g)\n", "            out = prox(a, -c, g)\n",
           "flipped sign of the step c in every phase", RULE_TESTS),
    Mutant("S02", "solvers/rule.py", "        past = ((ell,) + state.past)[:lag]",
           "        past = (state.past + (ell,))[:lag]",
           "off-by-one: past iterates appended at the back (π_{t−1} never becomes past:1 once lag ≥ 2)", RULE_TESTS),
    Mutant("S03", "solvers/rule.py", "            past_g = ((g_t,) + prev)[:win_lag]", "            past_g = prev[:win_lag]",
           "off-by-one: past_win_rates never take the new g_t (OMWU reads g_0 for ever)", RULE_TESTS),
    Mutant("S04", "solvers/rule.py", "gs = hist[t.lag - 1] if len(hist) >= t.lag else (hist[-1] if hist else g_t)",
           "gs = g_t", "dropped term: past:j opponents read the iterate's win rate (OMWU becomes MWU)", RULE_TESTS),
    Mutant("S05", "solvers/rule.py", "gs = win(torch.log_softmax(a, dim=-1))", "gs = win(a)",
           "mixture normalisation dropped: Nash-MD's opponent is the unnormalised exp(Σ w_k ℓ_k)", RULE_TESTS),
    Mutant("S06", "solvers/rule.py", "                    gs = win(half)\n", "                    gs = win(ell)\n",
           "`half` replaced by the iterate: the extragradient's second phase plays π_t", RULE_TESTS),
    Mutant("S07", "solvers/rule.py", "log_pi_sum=update_sum(state.log_pi_sum, half)",
           "log_pi_sum=update_sum(state.log_pi_sum, ell)",
           "off-by-one: the running sum adds π_t instead of π_{t+1}", FAITHFUL),
    Mutant("S08", "solvers/rule.py", "        return self.log_pi_sum - math.log(self.t + 1)",
           "        return self.log_pi_sum - math.log(self.t + 2)",
           "off-by-one: the average iterate divides by t + 2", FAITHFUL),
    Mutant("S09", "solvers/rule.py", "return torch.lerp(terms[0][1], terms[1][1], terms[1][0])",
           "return torch.lerp(terms[1][1], terms[0][1], terms[1][0])",
           "swapped anchor weights of every two-anchor mix ((1−w)ℓ_1 + wℓ_0)", RULE_TESTS),
    Mutant("S10", "solvers/rule.py", "    return (x.sum(-2, keepdim=True) - x) / (N - 1)",
           "    return (x.sum(-2, keepdim=True) - x) / N", "off-by-one: 'others' divides by N", RULE_TESTS),
    Mutant("S11", "solvers/rule.py", "                        gs = others_mean(g_t)\n",
           "                        gs = g_t\n", "the 'others' opponent reads the player's own win rate", RULE_TESTS),
    Mutant("S12", "solvers/rule.py", "r = log_pi_theta_y - self.anchor(anchors_y) - self.c * win_rate.to(log_pi_theta_y.dtype) + log_z",
           "r = log_pi_theta_y - self.anchor(anchors_y) + self.c * win_rate.to(log_pi_theta_y.dtype) + log_z",
           "flipped sign of c·g in the pointwise loss", LOSS),
    Mutant("S13", "solvers/rule.py", 'return self.anchor(anc) + self.c * win_rate.double() - anc["iterate"]',
           "return self.anchor(anc) + self.c * win_rate.double()",
           "dropped term: the step's log-ratio forgets − log π_t", LOSS),
    # ---- solvers/core.py: the loss every rule reduces to, the closed-form prox, the running sum
    Mutant("S14", "solvers/core.py", "    r = (log_pi_theta_y - log_pi_theta_yp) - (log_anchor_y - log_anchor_yp) - c * target",
           "    r = (log_pi_theta_y - log_pi_theta_yp) - (log_anchor_y - log_anchor_yp) + c * target",
           "flipped sign of c·target in mirror_loss", LOSS),
    Mutant("S15", "solvers/core.py", "    r = (log_pi_theta_y - log_pi_theta_yp) - (log_anchor_y - log_anchor_yp) - c * target",
           "    r = (log_pi_theta_y - log_pi_theta_yp) - log_anchor_y - c * target",
           "dropped term: mirror_loss forgets the anchor at y'", LOSS),
    Mutant("S16", "solvers/core.py", "    return torch.log_softmax(torch.add(log_anchor, g, alpha=c), dim=-1)",
           "    return torch.add(log_anchor, g, alpha=c)", "tabular_prox without its normalisation", RULE_TESTS),
    Mutant("S17", "solvers/core.py", "    return torch.logaddexp(log_pi_sum, log_pi_next)",
           "    return torch.maximum(log_pi_sum, log_pi_next)", "update_sum keeps the max instead of the sum",
           FAITHFUL),
    # ---- the declarations
    Mutant("S18", "solvers/inpo.py", 'anchor("ref", lambda hp: hp["eta"] * hp["beta"]))',
           'anchor("ref", lambda hp: hp["beta"]))',
           "wrong anchor weight: INPO's (and EGPO's) ref weight β instead of ηβ", RULE_TESTS),
    Mutant("S19", "solvers/inpo.py", 'OMD_ANCHORS = (anchor("iterate", lambda hp: 1.0 - hp["eta"] * hp["beta"]),',
           'OMD_ANCHORS = (anchor("iterate", lambda hp: 1.0),',
           "dropped term: the iterate's weight 1 instead of 1 − ηβ", RULE_TESTS),
    Mutant("S20", "solvers/egpo.py",
           'Phase(anchors=OMD_ANCHORS, step=lambda hp: hp["eta"], opponents=(opponent("half"),))',
           'Phase(anchors=OMD_ANCHORS, step=lambda hp: hp["eta"], opponents=(opponent("iterate"),))',
           "EGPO's second phase plays π_t instead of π_½", RULE_TESTS),
    Mutant("S21", "solvers/egpo.py",
           'Phase(anchors=OMD_ANCHORS, step=lambda hp: hp["eta"], opponents=(opponent("half"),))',
           'Phase(anchors=OMD_ANCHORS, step=lambda hp: 2 * hp["eta"], opponents=(opponent("half"),))',
           "wrong constant: EGPO's second step 2η", RULE_TESTS),
    Mutant("S22", "solvers/nash_mp.py", '    return hp["eta"] / (1.0 + hp["eta"] * hp["beta"])',
           '    return hp["eta"]', "dropped term: Nash-MP's prox step η instead of η/(1+ηβ)", RULE_TESTS),
    Mutant("S23", "solvers/nash_mp.py", 'anchor("iterate", lambda hp: 1.0 / (1.0 + hp["eta"] * hp["beta"]))',
           'anchor("iterate", lambda hp: 1.0 / (1.0 + hp["eta"]))',
           "wrong anchor weight: Nash-MP's iterate weight 1/(1+η)", RULE_TESTS),
    Mutant("S24", "solvers/omwu.py", 'opponents=(opponent("iterate", 2.0), opponent("past:1", -1.0))',
           'opponents=(opponent("iterate", -1.0), opponent("past:1", 2.0))',
           "swapped opponent weights: OMWU's g = 2Pπ_{t−1} − Pπ_t", RULE_TESTS),
    Mutant("S25", "solvers/omwu.py", 'opponents=(opponent("iterate", 2.0), opponent("past:1", -1.0))',
           'opponents=(opponent("iterate", 2.0), opponent("past:2", -1.0))',
           "off-by-one: OMWU's optimism reads Pπ_{t−2}", RULE_TESTS),
    Mutant("S26", "solvers/td_mnpo.py", 'return [anchor("ref", hp["rho"]), ',
           'return [anchor("ref", 1.0 - hp["rho"]), ', "wrong anchor weight: TD-MNPO's ref weight 1 − ρ",
           RULE_TESTS),
    Mutant("S27", "solvers/td_mnpo.py", "for j in range(1, len(lam)))]", "for j in range(1, len(lam) - 1))]",
           "off-by-one: TD-MNPO drops its oldest history anchor", RULE_TESTS),
    Mutant("S28", "solvers/td_mnpo.py", 'anchor("iterate", (1.0 - hp["rho"]) * lam[0])',
           'anchor("iterate", (1.0 - hp["rho"]) * lam[1])',
           "swapped weight: the iterate takes λ_1 (the past iterate's weight)", RULE_TESTS),
    Mutant("S29", "solvers/rule.py", "past=(s.log_pi,) * lag)", "past=(s.log_pi_ref,) * lag)",
           "wrong start: the iterates before the start are π_ref instead of π_0", RULE_TESTS),
    Mutant("S30", "solvers/rule.py", "(hist[-1] if hist else g_t)", "(hist[-1] if hist else torch.zeros_like(g_t))",
           "wrong start: a past win rate before the start is 0 instead of Pπ_0", RULE_TESTS),
    Mutant("S31", "solvers/rule.py", "term = gs if v == 1.0 else v * gs", "term = gs",
           "dropped term: the opponent weights v_m are ignored", RULE_TESTS),
    Mutant("S32", "solvers/rule.py", '    if hasattr(feedback, "get_state"):\n        feedback.set_state(',
           '    if False:\n        feedback.set_state(',
           "dropped restore: step no longer resumes the feedback's random state (not pure)", CONFORMANCE),
    Mutant("S33", "solvers/rule.py", "return mix([(w, log_probs[s]) for s, w in self.weights])",
           "return mix([(1.0 / len(self.weights), log_probs[s]) for s, w in self.weights])",
           "wrong anchor weights in the loss: every anchor weighted equally", LOSS),
    Mutant("S34", "solvers/sppo.py", "r = log_pi_theta_y - log_pi_t_y - eta * (win_rate - 0.5)",
           "r = log_pi_theta_y - log_pi_t_y + eta * (win_rate - 0.5)",
           "flipped sign: SPPO's pointwise paper loss steps against the win rate",
           LOSS),
    Mutant("S35", "solvers/mnpo.py", 'phases=(Phase(anchors=(anchor("others", 1.0),),',
           'phases=(Phase(anchors=(anchor("iterate", 1.0),),',
           "swapped source: MNPO anchors at the player's own iterate instead of the others' mean", RULE_TESTS),
    Mutant("S36", "solvers/nash_md.py", 'opponents=(opponent("mixture"),)', 'opponents=(opponent("iterate"),)',
           "swapped source: Nash-MD plays π_t instead of the mixture π^μ (becomes INPO)", RULE_TESTS),
]


def _copy_tree(dest: Path, ref: str | None) -> None:
    """The working tree's tracked and untracked, non-ignored files (what a commit of it would hold), or the files of
    the commit ``ref`` (``git archive``; stable while other sessions edit the working tree)."""
    if ref is not None:
        archive = subprocess.run(["git", "archive", "--format=tar", ref], cwd=REPO, capture_output=True)
        if archive.returncode != 0:
            raise SystemExit(f"mutation_check: git archive {ref}: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        return
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _package_links(copy: Path) -> Path:
    """Links ``copy/nashlab/<part>`` → ``copy/<folder>`` following pyproject's package-dir, so that ``import
    nashlab.games`` finds the copy's ``games/`` from the copy's root (which ``python -m pytest`` puts first on
    ``sys.path``, ahead of the editable install's finder); returns the folder to put on ``PYTHONPATH``."""
    mapping = tomllib.loads((copy / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    top = copy / mapping.get("nashlab", "nashlab")
    for name, folder in mapping.items():
        if name != "nashlab":
            (top / name.split(".", 1)[1]).symlink_to(copy / folder, target_is_directory=True)
    if top != copy / "nashlab":
        (copy / "nashlab").symlink_to(top, target_is_directory=True)
    return copy


def _env(pkgroot: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(pkgroot) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"  # one core: the check shares the machine
    return env


VERBOSE = False


def _pytest(copy: Path, env: dict, tests, timeout: float):
    """``(status, seconds, tail)``: status "passed", "failed" or "timeout"."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header", *tests]
    cmd += [f"--deselect={d}" for d in DESELECT]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - t0, ""
    if VERBOSE:
        print(proc.stdout + proc.stderr)
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    # the first failing test (pytest's -ra summary line) and the totals
    tail = " | ".join([ln for ln in lines if ln.startswith(("FAILED", "ERROR"))][:1] + lines[-1:])
    return ("passed" if proc.returncode == 0 else "failed"), time.monotonic() - t0, tail


def _refusal(m: Mutant, copy: Path) -> str | None:
    path = copy / m.file
    if not path.is_file():
        return f"{m.id}: {m.file} does not exist"
    count = path.read_text(encoding="utf-8").count(m.original)
    if count != 1:
        return f"{m.id}: the original snippet occurs {count} times in {m.file} (must be exactly once): {m.original!r}"
    if m.original == m.replacement:
        return f"{m.id}: the replacement equals the original"
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", metavar="ID", help="run only these mutants (e.g. M01 M07)")
    ap.add_argument("--list", action="store_true", help="print the mutants and exit")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant's test run (default 300)")
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--ref", metavar="COMMIT", help="mutate this commit's files instead of the working tree")
    ap.add_argument("--exclude", nargs="+", default=[], metavar="TEST_FILE",
                    help="leave these test files out of every run (to ask what the rest of the suite kills, e.g. "
                         "without the trajectory snapshot)")
    ap.add_argument("--verbose", action="store_true", help="print each mutant's pytest output")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copy (its path is printed)")
    args = ap.parse_args(argv)
    global VERBOSE
    VERBOSE = args.verbose

    ids = [m.id for m in MUTANTS]
    assert len(set(ids)) == len(ids), "duplicate mutant ids"
    if args.only:
        unknown = sorted(set(args.only) - set(ids))
        if unknown:
            print(f"mutation_check: unknown mutant id(s) {', '.join(unknown)}; known: M01..M39, S01..S36",
                  file=sys.stderr)
            return 2
    chosen = [m for m in MUTANTS if not args.only or m.id in args.only]
    if args.exclude:
        chosen = [Mutant(m.id, m.file, m.original, m.replacement, m.description,
                         tuple(t for t in m.tests if t not in args.exclude)) for m in chosen]
        empty = [m.id for m in chosen if not m.tests]
        if empty:
            print(f"mutation_check: --exclude leaves no test file for {', '.join(empty)}", file=sys.stderr)
            return 2
    if args.list:
        for m in chosen:
            print(f"{m.id}  {m.file:22s} {m.description}")
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="nashlab-mutants-"))
    copy = tmp / "repo"
    copy.mkdir()
    try:
        _copy_tree(copy, args.ref)
        env = _env(_package_links(copy))
        def killers_of(m: Mutant) -> tuple[str, ...]:
            k = SOLVER_KILLERS if m.file.startswith("solvers/") else KILLERS
            return (k,) if (copy / k).is_file() and k not in args.exclude else ()

        refused = [r for r in (_refusal(m, copy) for m in chosen) if r]
        for r in refused:
            print(f"REFUSED {r}")
        runnable = [m for m in chosen if _refusal(m, copy) is None]

        where = subprocess.run([sys.executable, "-c", "import nashlab.games as g; print(g.__file__)"], cwd=copy,
                               env=env, capture_output=True, text=True)
        if not where.stdout.strip().startswith(str(copy)):
            print(f"mutation_check: nashlab.games does not resolve inside the copy ({where.stdout.strip()!r}"
                  f"{where.stderr.strip()[-300:]}); refusing to run", file=sys.stderr)
            return 1
        base_tests = sorted({t for m in runnable for t in (*m.tests, *killers_of(m))})
        status, secs, tail = _pytest(copy, env, base_tests, args.timeout * 2)
        print(f"baseline (unmutated copy): {status} in {secs:.0f} s: {' '.join(base_tests)}")
        if status != "passed":
            print(f"mutation_check: the unmutated copy does not pass its tests ({tail}); fix that first",
                  file=sys.stderr)
            return 1

        results = []
        for m in runnable:
            path = copy / m.file
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace(m.original, m.replacement, 1), encoding="utf-8")
            try:
                status, secs, tail = _pytest(copy, env, (*m.tests, *killers_of(m)), args.timeout)
            finally:
                path.write_text(text, encoding="utf-8")
            outcome = "survived" if status == "passed" else ("killed (timeout)" if status == "timeout" else "killed")
            results.append({**asdict(m), "outcome": outcome, "seconds": round(secs, 1), "pytest": tail})
            print(f"{m.id}  {outcome:16s} {secs:5.0f} s  {m.file}: {m.description}", flush=True)

        killed = sum(r["outcome"].startswith("killed") for r in results)
        survivors = [r["id"] for r in results if r["outcome"] == "survived"]
        print(f"mutation score: {killed}/{len(results)} killed ({100.0 * killed / max(len(results), 1):.0f}%)"
              + (f"; survived: {', '.join(survivors)}" if survivors else "")
              + (f"; refused: {len(refused)}" if refused else ""))
        if args.json:
            args.json.write_text(json.dumps({"killed": killed, "total": len(results), "refused": refused,
                                             "mutants": results}, indent=1, ensure_ascii=False) + "\n")
        return 1 if refused else 0
    finally:
        if args.keep:
            print(f"copy kept at {copy}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
