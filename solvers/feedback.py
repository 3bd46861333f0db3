"""Feedback: the only way a solver sees the game. A callable ``pi [..., n] -> g [..., n]`` with ``g ≈ P π``.

* :func:`exact_feedback` — ``g = P π`` exactly (one *query* = one win-rate vector per game, the unit in which
  Nash-MP's rate ``(1+2β)^{−N/2}`` counts queries).
* :func:`sampled_feedback` — the unbiased estimate of :meth:`nashlab.games.PreferenceOracle.win_rates`: for every
  action ``y``, ``M`` opponents ``y'_m ~ π`` and Bernoulli(``P[y, y'_m]``) outcomes, ``ĝ_y = (1/M) Σ_m o_m``
  (``E ĝ = Pπ``, ``Var ĝ_y ≤ 1/(4M)``), whose sum is drawn as one ``Binomial(M, (Pπ)_y)``; one query = one
  comparison, ``n·M`` per call per game; seeded by the oracle. Options (spec ``sampled:M,labels=…,estimator=…``):
  ``labels=soft`` (the judge's probability instead of its verdict) and ``estimator=shared|reuse`` (one opponent set for
  every action, fresh or the previous call's importance-weighted; see :data:`ESTIMATORS` and
  :mod:`nashlab.solvers.estimators` for the variances). ``samples`` counts the opponents generated.

Extra leading axes on ``pi`` broadcast against ``P``'s batch axes (n-player rules evaluate ``[N, ..., n]`` at once).
"""

from __future__ import annotations

import numpy as np
import torch

Tensor = torch.Tensor


class ExactFeedback:
    """``g = P π`` for ``P [..., n, n]`` (a torch tensor; its dtype and device are used).

    Attributes:
        P: the preference tensor.
        calls: number of evaluations so far.
        queries: preference queries used so far (one exact win-rate vector per game per call).
    """

    def __init__(self, P: Tensor) -> None:
        if not isinstance(P, torch.Tensor):
            P = torch.as_tensor(P, dtype=torch.float64)
        if P.ndim < 2 or P.shape[-1] != P.shape[-2]:
            raise ValueError(f"P must have shape [..., n, n]; got {tuple(P.shape)}")
        self.P = P
        self.calls = 0
        self.queries = 0
        self.samples = 0  # exact win rates need no generated opponents
        self._cast: dict = {}

    def __call__(self, pi: Tensor) -> Tensor:
        self.calls += 1
        self.queries += 1
        P = self.P
        if P.dtype != pi.dtype or P.device != pi.device:  # keep the policy's dtype/device (cached conversion)
            key = (pi.dtype, pi.device)
            if key not in self._cast:
                self._cast[key] = P.to(dtype=pi.dtype, device=pi.device)
            P = self._cast[key]
        if P.ndim == 2:
            # [n, n] @ [..., n]ᵀ: one GEMM over all batch rows (a GEMV when pi is a vector).
            return torch.mv(P, pi) if pi.ndim == 1 else pi @ P.T
        if P.device.type == "cpu" and not pi.requires_grad:
            # A batch of matrix-vector products is memory-bound; on CPU float64 numpy's matmul streams P fastest
            # (1,024 × 100 × 100: numpy matmul 2.5 ms, einsum 2.9–3.4 ms, torch.bmm 6.6 ms on this machine; see
            # `nashlab bench`). Zero-copy both ways.
            out = np.matmul(P.numpy(), pi.detach().numpy()[..., None])[..., 0]
            return torch.from_numpy(out)
        return torch.matmul(P, pi.unsqueeze(-1)).squeeze(-1)  # [..., n, n] @ [..., n, 1]


class SampledFeedback:
    """Estimate of ``P π`` from ``M`` comparisons per action (see module docstring), by one of :data:`ESTIMATORS`.

    Attributes:
        oracle: the :class:`nashlab.games.PreferenceOracle` (owns the seed and the query count).
        num_comparisons: ``M``.
        labels: ``"hard"`` (Bernoulli verdicts) or ``"soft"`` (the judge's probability).
        estimator: ``"iid"``, ``"shared"`` or ``"reuse"``.
        calls: number of evaluations so far.
        samples: opponent responses generated so far, per game (``n·M`` per call for ``iid``, ``M`` otherwise).
    """

    def __init__(self, oracle, num_comparisons: int, labels: str = "hard", estimator: str = "iid") -> None:
        from nashlab.games.oracle import check_labels

        if not (isinstance(num_comparisons, int) and not isinstance(num_comparisons, bool) and num_comparisons >= 1):
            raise ValueError(f"num_comparisons must be an integer ≥ 1; got {num_comparisons!r}")
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}; got {estimator!r}")
        self.oracle = oracle
        self.num_comparisons = num_comparisons
        self.labels = check_labels(labels)
        self.estimator = estimator
        self.calls = 0
        self.samples = 0
        self._held = None  # reuse: (opponent counts, the policy they were drawn from)
        self.initial_state = self.get_state()

    @property
    def queries(self) -> int:
        return self.oracle.queries

    def get_state(self) -> tuple:
        """The random state: the oracle's generator state and the draws held for ``reuse`` (a solver keeps it in its
        state, so that its ``step`` is pure under sampled feedback too)."""
        return (self.oracle.generator.get_state(), self._held)

    def set_state(self, state: tuple) -> None:
        """Restore a state from :meth:`get_state` (the next draws repeat those that followed it)."""
        gen, held = state
        self.oracle.generator.set_state(gen)
        self._held = held

    def __call__(self, pi: Tensor) -> Tensor:
        self.calls += 1
        o, M = self.oracle, self.num_comparisons
        pi64 = pi.to(o.P.dtype)
        if self.estimator == "iid":
            self.samples += o.n * M
            return o.win_rates(pi64, M, self.labels).to(pi.dtype)
        self.samples += M
        fresh = o.opponent_counts(pi64, M)
        if self.estimator == "shared":
            return o.shared_win_rates(fresh, self.labels).to(pi.dtype)
        # reuse: judge the opponents drawn at the previous call (from π_prev), weighted by π/π_prev; hold today's
        # draw, unjudged, for the next call. The held draw never influenced π (only judged draws move the policy),
        # so E[w(z) P[y, z]] over z ~ π_prev is exactly (Pπ)_y: unbiased.
        held, self._held = self._held, (fresh, pi64)
        if held is None or held[1].shape != pi64.shape:
            return o.shared_win_rates(fresh, self.labels).to(pi.dtype)  # first call: nothing held yet
        counts, pi_prev = held
        w = torch.where(counts > 0, pi64 / pi_prev.clamp_min(1e-300), torch.zeros_like(pi64))
        return o.shared_win_rates(counts, self.labels, weights=w).to(pi.dtype)


#: How a sampled feedback call picks the opponents of each action's ``M`` comparisons (``estimator=`` in the spec):
#: ``iid`` — each action its own ``M`` fresh draws from π (today's; ``n·M`` generated samples per call);
#: ``shared`` — one set of ``M`` draws from π that every action is compared with (the tabular form of the
#: leave-one-out / control-variate estimator: the opponents' sampling noise is common to every action and cancels in
#: ``ĝ_y − ĝ_{y'}``; ``M`` samples per call);
#: ``reuse`` — shared opponents drawn at the previous call from π_prev, importance-weighted by ``π(z)/π_prev(z)``
#: (unbiased; see :func:`nashlab.solvers.estimators.importance_weighted_win_rate`).
ESTIMATORS = ("iid", "shared", "reuse")


def exact_feedback(P) -> ExactFeedback:
    """Exact win rates ``g = Pπ``.

    Args:
        P: ``[..., n, n]`` torch tensor (or array, converted to float64 CPU).

    >>> import torch
    >>> fb = exact_feedback(torch.tensor([[0.5, 1.0], [0.0, 0.5]], dtype=torch.float64))
    >>> fb(torch.tensor([0.5, 0.5], dtype=torch.float64)).tolist()
    [0.75, 0.25]
    """
    return ExactFeedback(P)


def sampled_feedback(oracle, num_comparisons: int, labels: str = "hard", estimator: str = "iid") -> SampledFeedback:
    """Sampled win rates from ``oracle`` (a :class:`nashlab.games.PreferenceOracle`), ``M = num_comparisons``."""
    return SampledFeedback(oracle, num_comparisons, labels=labels, estimator=estimator)


FEEDBACK_FORMS = "'exact' or 'sampled:M[,labels=hard|soft][,estimator=iid|shared|reuse]'"


def parse_feedback(spec: str) -> dict:
    """A feedback spec → ``{"kind", "num_comparisons", "labels", "estimator"}``.

    ``"exact"``; or ``"sampled:M"`` with ``1 ≤ M ≤ 2**53`` (win counts are drawn as float64 Binomials, exact up to
    2**53; the cost does not grow with M) and optional ``,labels=hard|soft`` (default hard) and
    ``,estimator=iid|shared|reuse`` (default iid, see :data:`ESTIMATORS`); anything else → ValueError.
    """
    from nashlab.games.oracle import LABELS, MAX_COMPARISONS

    if not isinstance(spec, str):
        raise ValueError(f"feedback must be {FEEDBACK_FORMS}; got {spec!r}")
    if spec == "exact":
        return {"kind": "exact", "num_comparisons": None, "labels": None, "estimator": None}
    if not spec.startswith("sampled:"):
        raise ValueError(f"feedback must be {FEEDBACK_FORMS}; got {spec!r}")
    head, *opts = spec.split(":", 1)[1].split(",")
    try:
        m = int(head)
    except ValueError:
        m = 0
    if not 1 <= m <= MAX_COMPARISONS:
        raise ValueError(f"feedback 'sampled:M' needs an integer M in [1, 2**53]; got {spec!r}")
    out = {"kind": "sampled", "num_comparisons": m, "labels": "hard", "estimator": "iid"}
    allowed = {"labels": LABELS, "estimator": ESTIMATORS}
    for opt in opts:
        key, eq, val = opt.partition("=")
        key, val = key.strip(), val.strip()
        if not eq or key not in allowed or val not in allowed[key]:
            raise ValueError(f"feedback option {opt!r} in {spec!r}: expected labels=hard|soft or "
                             f"estimator={'|'.join(ESTIMATORS)}")
        out[key] = val
    return out


def parse_feedback_spec(spec: str) -> tuple[str, int | None]:
    """``(kind, M)`` of :func:`parse_feedback` (``("exact", None)`` or ``("sampled", M)``)."""
    f = parse_feedback(spec)
    return f["kind"], f["num_comparisons"]


def make_feedback(spec: str, P: Tensor, seed: int = 0, device=None):
    """The feedback callable of spec ``spec`` for ``P [..., n, n]`` (sampled: an oracle seeded by ``seed``)."""
    f = parse_feedback(spec)
    if f["kind"] == "exact":
        return ExactFeedback(P)
    from nashlab.games import PreferenceOracle

    return SampledFeedback(PreferenceOracle(P, seed=seed, device=device), f["num_comparisons"], labels=f["labels"],
                           estimator=f["estimator"])
