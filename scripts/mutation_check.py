#!/usr/bin/env python3
"""Hand-written mutation check of games/: does the test suite notice a small wrong edit of the code it guards?

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
    Mutant("M22", "games/nash_scale.py", "sigma = ((mu_aff / mu) ** 3)[..., None]", "sigma = ((mu_aff / mu) ** 1)[..., None]",
           "wrong constant: Mehrotra's centring exponent 3 → 1", SCALE),
    Mutant("M23", "games/nash_scale.py", "F = log_pi - log_ref - ops.mv(P, xp.exp(log_pi)) / beta",
           "F = log_pi - log_ref + ops.mv(P, xp.exp(log_pi)) / beta",
           "flipped sign: the batched Newton residual", SCALE),
    Mutant("M24", "games/nash_scale.py", "J *= pi[..., None, :] * (-1.0 / beta)", "J *= pi[..., None, :] * (1.0 / beta)",
           "flipped sign: the batched Newton Jacobian (torch path)", SCALE),
    Mutant("M25", "games/nash_scale.py",
           "K = np.asfortranarray(1.5 - P[b][s[:, None], s])", "K = np.asfortranarray(1.0 - P[b][s[:, None], s])",
           "wrong constant: the support polish solves (1 − P)z = 1 instead of (1.5 − P)z = 1", SCALE),
    Mutant("M39", "games/nash_scale.py", "step = _newton_steps(Pa, g, pi * (-1.0 / beta), -Fa)",
           "step = _newton_steps(Pa, g, pi * (1.0 / beta), -Fa)",
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
            print(f"mutation_check: unknown mutant id(s) {', '.join(unknown)}; known: {min(ids)}..{max(ids)}",
                  file=sys.stderr)
            return 2
    chosen = [m for m in MUTANTS if not args.only or m.id in args.only]
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
        killers = (KILLERS,) if (copy / KILLERS).is_file() else ()

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
        base_tests = sorted({t for m in runnable for t in m.tests} | set(killers))
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
                status, secs, tail = _pytest(copy, env, (*m.tests, *killers), args.timeout)
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
