"""``solve``: run a registered solver on a game and record equilibrium metrics (computed by ``nashlab.games``, never
inside a solver's step) every ``every`` iterations.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from nashlab.json_plain import to_plain

from .core import SolverState
from .feedback import make_feedback, parse_feedback_spec
from .registry import SOLVERS, load_rule, make_solver
from .schedules import scheduled

#: games with fewer entries than this run single-threaded by default (see ``solve(threads=...)``).
SMALL_PROBLEM = 1 << 22
#: Most iterations one ``solve`` call (``--iters``) may run: 10 million tabular steps take from minutes to hours; a
#: larger count is a typo (``1e12``) that would never finish.
MAX_ITERS = 10_000_000
#: Most trace records kept: the recording interval ``every`` is raised to a multiple of itself when
#: ``iters / every`` would exceed this, so a trace stays within ~1,000 points (plus iteration 0 and the last).
MAX_TRACE_POINTS = 1000
#: Most torch threads (``--threads``): four per CPU core, at most 1024; more only costs memory (one stack each).
MAX_THREADS = min(1024, 4 * (os.cpu_count() or 1))
#: Without a terminal, a progress line goes to stderr this often (seconds); a shorter run prints none.
PROGRESS_EVERY_S = 5.0

#: metric names recorded for two-player (symmetric) policies; ``avg_`` versions use the average iterate.
METRICS = ("duality_gap", "reg_duality_gap", "kl_to_nash")
MULTI_METRICS = ("multiplayer_duality_gap",)


@dataclass
class SolveResult:
    """What :func:`solve` returns.

    Attributes:
        policy: ``np.ndarray [..., n]`` final last iterate (``[..., N, n]`` for n-player rules).
        policy_avg: same shape, the final average iterate.
        final: metric name -> float (single game) or ``np.ndarray`` (batch): ``duality_gap``, ``reg_duality_gap``,
            ``kl_to_nash``, their ``avg_`` versions, and for n-player rules ``multiplayer_duality_gap`` /
            ``avg_multiplayer_duality_gap`` (the symmetric metrics then use the players' mean policy).
        trace: name -> list, recorded at iterations 0, every, 2·every, …, and the last (``every`` raised by
            :func:`record_every` to keep at most :data:`MAX_TRACE_POINTS` + 2 records): ``iteration``, ``queries``
            (cumulative judge queries), ``samples`` (cumulative generated opponent samples) and every metric in
            ``final``.
        queries: preference queries used (exact: win-rate vectors per game; sampled: comparisons per game).
        samples: opponent samples generated per game (0 for exact feedback).
        solver: registry name.
        hparams: the resolved hyper-parameters (``eta``, ``beta``, …) plus ``iters``, ``feedback``, ``init``,
            ``policy``, ``seed``.
        pi_star_beta: ``np.ndarray [..., n]`` the reference equilibrium the KL is measured to.
        nash_unique: bool (``[...]`` for a batch): whether that equilibrium is the game's only one. Always true for
            β > 0; at β = 0 a game can have a set of equilibria (:mod:`nashlab.games.equilibrium_set`), and its
            ``kl_to_nash`` is then NaN (undefined: KL to one arbitrary vertex of the set measures nothing).
    """

    policy: np.ndarray
    policy_avg: np.ndarray
    final: dict
    trace: dict
    queries: int
    solver: str
    hparams: dict
    pi_star_beta: np.ndarray = field(repr=False, default=None)
    samples: int = 0
    nash_unique: bool | np.ndarray = True

    def to_json(self, warnings: list[str] | None = None) -> dict:
        """The result as plain JSON data (arrays as nested lists), through the one sanitiser
        (:func:`nashlab.json_plain.to_plain`): ``solver``, ``hparams``, ``queries``, ``samples``, ``policy``,
        ``final``, ``trace``, ``nash_unique``.

        Args:
            warnings: a list: the data is strict JSON, each value that is not finite (a ``kl_to_nash`` undefined on a
                set of equilibria, a diverged gap) becomes ``None``, and ``warnings`` gets one entry naming its key
                path (``"final.kl_to_nash is NaN"``). ``None``: such values stay floats, for a caller that writes the
                data through ``emit_json``, which names them in its own ``warnings``.
        """
        data = {"solver": self.solver, "hparams": self.hparams, "queries": self.queries, "samples": self.samples,
                "policy": self.policy, "final": self.final, "trace": self.trace, "nash_unique": self.nash_unique}
        return to_plain(data, warnings, nonfinite="keep" if warnings is None else "null")


def parse_init_spec(spec: str) -> tuple[str, int | None]:
    """``"ref"`` | ``"uniform"`` | ``"random:seed=S"`` (or ``"random"``, seed 0; ``0 ≤ S < 2**63``) → ``(kind, seed)``."""
    from nashlab.games.preference import validate_seed

    if spec in ("ref", "uniform"):
        return spec, None
    if isinstance(spec, str) and (spec == "random" or spec.startswith("random:")):
        rest = spec.split(":", 1)[1] if ":" in spec else "seed=0"
        key, _, val = rest.partition("=")
        try:
            if key.strip() != "seed":
                raise ValueError
            seed = int(val)
        except ValueError:
            raise ValueError(f"init must be 'ref', 'uniform' or 'random:seed=S'; got {spec!r}") from None
        return "random", validate_seed(seed, name=f"the seed of init {spec!r}")
    raise ValueError(f"init must be 'ref', 'uniform' or 'random:seed=S'; got {spec!r}")


def initial_log_policy(spec: str, shape: tuple, dtype, device) -> torch.Tensor | None:
    """``None`` for ``ref`` (the solver starts at π_ref); uniform; or ``log_softmax`` of N(0, 1) logits, seeded
    (each player of an n-player rule gets its own row, hence a distinct start)."""
    kind, seed = parse_init_spec(spec)
    if kind == "ref":
        return None
    if kind == "uniform":
        return torch.full(shape, -math.log(shape[-1]), dtype=dtype, device=device)
    gen = torch.Generator().manual_seed(seed)
    return torch.log_softmax(torch.randn(shape, generator=gen, dtype=torch.float64), dim=-1).to(dtype=dtype,
                                                                                             device=device)


def _unpack_game(game):
    from nashlab.games import ContextualGame, MultiplayerGame, PreferenceGame

    if isinstance(game, MultiplayerGame):
        return game.game, None, game.num_players
    if isinstance(game, ContextualGame):
        return game.game, game.features, None
    if isinstance(game, PreferenceGame):
        return game, None, None
    raise ValueError(f"game must be a PreferenceGame, ContextualGame or MultiplayerGame; got {type(game).__name__}")


def _equilibrium(base, beta: float) -> np.ndarray:
    from nashlab.games import exact_nash, regularized_nash

    return regularized_nash(base, beta=beta) if beta > 0 else exact_nash(base)


def _metrics(P, log_pi, log_pi_ref, pi_star, beta, multiplayer: bool, prefix: str = "", unique=None) -> dict:
    """DG_0, DG_β and KL(π*‖π) (plus the multiplayer gap); ``unique`` (bool tensor over the batch, or None): where
    false, the equilibrium is a set and the KL is NaN."""
    from nashlab.games import duality_gap, kl_to_nash, multiplayer_duality_gap, reg_duality_gap

    pi = log_pi.exp()
    ref = log_pi_ref.exp()
    out = {}
    if multiplayer:
        out[prefix + "multiplayer_duality_gap"] = multiplayer_duality_gap(P, pi, ref, beta)
        pi = pi.mean(-2)  # symmetric metrics of the players' mixture
    out[prefix + "duality_gap"] = duality_gap(P, pi)
    out[prefix + "reg_duality_gap"] = reg_duality_gap(P, pi, ref, beta)
    kl = kl_to_nash(pi_star, pi)
    out[prefix + "kl_to_nash"] = kl if unique is None else torch.where(unique, kl, torch.full_like(kl, math.nan))
    return out


def record_every(iters: int, every: int) -> int:
    """The recording interval actually used: ``every``, or its smallest multiple that keeps ``iters // every`` within
    :data:`MAX_TRACE_POINTS`, so a trace's length (and memory) is bounded whatever ``iters`` is."""
    return every * max(1, math.ceil(iters / (every * MAX_TRACE_POINTS)))


class _Progress:
    """Progress of a run on stderr: a tqdm bar on a terminal; otherwise one line every :data:`PROGRESS_EVERY_S`
    seconds (a log file gets lines, not a bar's carriage returns; a short run prints nothing)."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.done = total, desc, 0
        self.start = self.last = time.monotonic()
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, leave=False, file=sys.stderr)

    def update(self, k: int = 1) -> None:
        self.done += k
        if self.bar is not None:
            self.bar.update(k)
            return
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            spent = now - self.start
            left = spent * (self.total - self.done) / max(self.done, 1)
            print(f"{self.desc}: {self.done:,}/{self.total:,} iterations ({100 * self.done / self.total:.0f} %), "
                  f"{spent:.0f} s elapsed, ~{left:.0f} s left", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _host(v: torch.Tensor):
    a = v.detach().cpu().numpy()
    return float(a) if a.ndim == 0 else a


def solve(game, solver: str, eta: float | None = None, beta: float | None = None, iters: int = 1000,
          every: int = 10, feedback: str = "exact", seed: int = 0, init: str = "ref", policy: str = "tabular",
          num_players: int | None = None, device: str = "cpu", progress: bool = False, dtype=torch.float64,
          mlp_options: dict | None = None, threads: int | None = None, schedule: str = "constant",
          **options) -> SolveResult:
    """Run ``solver`` on ``game`` for ``iters`` steps and record metrics.

    Args:
        game: :class:`~nashlab.games.PreferenceGame` (single ``[n, n]`` or batched ``[..., n, n]``),
            :class:`~nashlab.games.ContextualGame` (``[C, n, n]`` + features), or
            :class:`~nashlab.games.MultiplayerGame`.
        solver: registry name (see :data:`nashlab.solvers.SOLVERS`).
        eta, beta: step and KL weight; ``None`` → the solver's default η and the game's β.
        iters: number of steps ``0 ≤ T ≤`` :data:`MAX_ITERS`.
        every: record metrics every ``every ≥ 1`` steps (and at 0 and T); raised to a multiple of itself when the trace
            would exceed :data:`MAX_TRACE_POINTS` records (see :func:`record_every`).
        feedback: ``"exact"`` or ``"sampled:M[,labels=hard|soft][,estimator=iid|shared|reuse]"`` (M comparisons per
            action per feedback call, oracle seeded by ``seed``; see :func:`nashlab.solvers.feedback.parse_feedback`).
        seed: seed of the sampled oracle (and of the MLP's initialisation), ``0 ≤ seed < 2**63``.
        init: ``"ref"`` (π_0 = π_ref), ``"uniform"``, or ``"random:seed=S"`` (n-player: a distinct start per player).
        policy: ``"tabular"`` or ``"mlp"`` (contextual games: a network from features to logits, trained by the rule's
            loss; see :mod:`nashlab.solvers.policies`).
        num_players: N for n-player rules (``mnpo``; ``td-mnpo``'s history is ``N − 1``); defaults to the game's or 3.
        device: torch device string.
        progress: report progress on stderr (a tqdm bar on a terminal, else a line every few seconds).
        dtype: float dtype (float64 by default).
        mlp_options: options of the MLP policy (``hidden``, ``inner_steps``, ``lr``).
        threads: torch intra-op threads during the run (restored afterwards), ``1 ≤ threads ≤`` :data:`MAX_THREADS`.
            ``None``: 1 on CPU when the game has
            fewer than :data:`SMALL_PROBLEM` entries (tabular steps on small tensors lose to OpenMP hand-off: on 2 busy
            cores a 2-thread ``log_softmax`` of a [64, 5] tensor took milliseconds instead of microseconds), otherwise
            torch's default.
        schedule: step-size schedule ``η_t`` (:data:`nashlab.solvers.schedules.SCHEDULES`; ``eta`` is ``η_0``).
        **options: rule-specific options forwarded to :func:`make_solver` (``lam``, ``rho``).

    Returns:
        :class:`SolveResult`.

    Raises:
        ValueError: bad arguments (unknown solver, hyper-parameters out of range, bad specs, mlp without contexts).
    """
    if threads is not None and not (isinstance(threads, int) and not isinstance(threads, bool)
                                    and 1 <= threads <= MAX_THREADS):
        raise ValueError(f"threads must be an integer in [1, {MAX_THREADS}] (4 per CPU core, at most 1024); "
                         f"got {threads!r}")
    if threads is None:
        base, _, _ = _unpack_game(game)
        if str(device).startswith("cpu") and base.P.size < SMALL_PROBLEM:
            threads = 1
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _solve(game, solver, eta=eta, beta=beta, iters=iters, every=every, feedback=feedback, seed=seed,
                      init=init, policy=policy, num_players=num_players, device=device, progress=progress, dtype=dtype,
                      mlp_options=mlp_options, schedule=schedule, **options)
    finally:
        torch.set_num_threads(before)


def _solve(game, solver: str, eta: float | None = None, beta: float | None = None, iters: int = 1000,
          every: int = 10, feedback: str = "exact", seed: int = 0, init: str = "ref", policy: str = "tabular",
          num_players: int | None = None, device: str = "cpu", progress: bool = False, dtype=torch.float64,
          mlp_options: dict | None = None, schedule: str = "constant", **options) -> SolveResult:
    """The body of :func:`solve` (run under its thread setting)."""

    base, features, game_players = _unpack_game(game)
    declared = load_rule(solver)
    if not (isinstance(iters, int) and not isinstance(iters, bool) and 0 <= iters <= MAX_ITERS):
        raise ValueError(f"iters must be an integer in [0, {MAX_ITERS:,}]; got {iters!r}")
    if not (isinstance(every, int) and not isinstance(every, bool) and every >= 1):
        raise ValueError(f"every must be an integer ≥ 1; got {every!r}")
    from nashlab.games.preference import validate_seed

    seed = validate_seed(seed)
    if policy not in ("tabular", "mlp"):
        raise ValueError(f"policy must be 'tabular' or 'mlp'; got {policy!r}")
    parse_feedback_spec(feedback)  # refuse a bad spec before any work
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda'; got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA device is visible")
    beta_from_game = beta is None
    beta = float(base.beta) if beta is None else beta
    kwargs = dict(options)
    if any(o.name == "num_players" for o in declared.options):
        N = num_players if num_players is not None else game_players
        if N is not None:
            kwargs["num_players"] = N
    elif num_players is not None or game_players is not None:
        with_players = ", ".join(k for k, r in SOLVERS.items() if any(o.name == "num_players" for o in r.options))
        raise ValueError(f"solver {solver!r} is two-player; --players/num_players applies to {with_players} only")
    try:
        rule = scheduled(solver, schedule, make_solver, eta, beta, **kwargs)
    except ValueError as exc:
        if beta_from_game and beta == 0 and str(exc).startswith("beta"):
            raise ValueError(f"{exc} (β came from the game, whose β is 0: pass beta, e.g. --beta 0.1)") from None
        raise
    beta = rule.hparams["beta"]
    multiplayer = declared.multiplayer

    P = torch.tensor(np.array(base.P), dtype=dtype, device=dev)
    log_pi_ref = torch.tensor(np.broadcast_to(base.log_pi_ref, base.P.shape[:-1]).copy(), dtype=dtype, device=dev)
    pi_star_np = _equilibrium(base, beta)
    pi_star = torch.as_tensor(pi_star_np, dtype=dtype, device=dev)
    nash_unique = np.ones(base.batch_shape, dtype=bool)
    if beta == 0:
        from nashlab.games.equilibrium_set import equilibrium_unique

        nash_unique = equilibrium_unique(base.P)
    unique = None if nash_unique.all() else torch.as_tensor(nash_unique, device=dev)
    n = base.n
    shape = tuple(base.P.shape[:-2]) + ((rule.hparams["num_players"],) if multiplayer else ()) + (n,)
    log_pi0 = initial_log_policy(init, shape, dtype, dev)

    fb = make_feedback(feedback, P, seed=seed, device=dev)

    if policy == "mlp":
        from .policies import MLPDriver

        if features is None:
            raise ValueError("policy 'mlp' needs a ContextualGame (features per context)")
        if multiplayer:
            raise ValueError("policy 'mlp' supports two-player rules only")
        driver = MLPDriver(rule, torch.as_tensor(features, dtype=dtype, device=dev), log_pi_ref, n, seed=seed,
                           log_pi0=log_pi0, **(mlp_options or {}))
        state = driver.state

        def step(s: SolverState) -> SolverState:
            return driver.step(s, fb)
    else:
        state = rule.init(log_pi_ref, log_pi0)

        def step(s: SolverState) -> SolverState:
            return rule.step(s, fb)

    trace: dict[str, list] = {"iteration": [], "queries": [], "samples": []}

    def record(s: SolverState) -> dict:
        m = _metrics(P, s.log_pi, log_pi_ref, pi_star, beta, multiplayer, unique=unique)
        m.update(_metrics(P, s.log_pi_avg, log_pi_ref, pi_star, beta, multiplayer, prefix="avg_", unique=unique))
        m = {k: _host(v) for k, v in m.items()}
        trace["iteration"].append(s.t)
        trace["queries"].append(fb.queries)
        trace["samples"].append(fb.samples)
        for k, v in m.items():
            trace.setdefault(k, []).append(v)
        return m

    stride = record_every(iters, every)
    bar = _Progress(iters, solver) if progress and iters else None
    final = record(state)
    try:
        for t in range(1, iters + 1):
            state = step(state)
            if t % stride == 0 or t == iters:
                final = record(state)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    hparams = dict(rule.hparams)
    hparams.update(iters=iters, feedback=feedback, init=init, policy=policy, seed=seed, schedule=schedule)
    return SolveResult(
        policy=state.log_pi.exp().detach().cpu().numpy(),
        policy_avg=state.log_pi_avg.exp().detach().cpu().numpy(),
        final=final, trace=trace, queries=int(fb.queries), samples=int(fb.samples), solver=solver, hparams=hparams,
        pi_star_beta=pi_star_np,
        nash_unique=bool(nash_unique) if nash_unique.ndim == 0 else nash_unique,
    )
