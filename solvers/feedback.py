"""Feedback: the only way a solver sees the game. A callable ``pi [..., n] -> g [..., n]`` with ``g ≈ P π``.

* :func:`exact_feedback` — ``g = P π`` exactly (one *query* = one win-rate vector per game, the unit in which
  Nash-MP's rate ``(1+2β)^{−N/2}`` counts queries).
* :func:`sampled_feedback` — the unbiased estimate of :meth:`nashlab.games.PreferenceOracle.win_rates`: for every
  action ``y``, ``M`` opponents ``y'_m ~ π`` and Bernoulli(``P[y, y'_m]``) outcomes, ``ĝ_y = (1/M) Σ_m o_m``
  (``E ĝ = Pπ``, ``Var ĝ_y ≤ 1/(4M)``), whose sum is drawn as one ``Binomial(M, (Pπ)_y)``; one query = one
  comparison, ``n·M`` per call per game; seeded by the oracle.

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
    """Unbiased estimate of ``P π`` from ``M`` Bernoulli comparisons per action (see module docstring).

    Attributes:
        oracle: the :class:`nashlab.games.PreferenceOracle` (owns the seed and the query count).
        num_comparisons: ``M``.
        calls: number of evaluations so far.
    """

    def __init__(self, oracle, num_comparisons: int) -> None:
        if not (isinstance(num_comparisons, int) and not isinstance(num_comparisons, bool) and num_comparisons >= 1):
            raise ValueError(f"num_comparisons must be an integer ≥ 1; got {num_comparisons!r}")
        self.oracle = oracle
        self.num_comparisons = num_comparisons
        self.calls = 0

    @property
    def queries(self) -> int:
        return self.oracle.queries

    def __call__(self, pi: Tensor) -> Tensor:
        self.calls += 1
        g = self.oracle.win_rates(pi.to(self.oracle.P.dtype), self.num_comparisons)
        return g.to(pi.dtype)


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


def sampled_feedback(oracle, num_comparisons: int) -> SampledFeedback:
    """Sampled win rates from ``oracle`` (a :class:`nashlab.games.PreferenceOracle`), ``M = num_comparisons``."""
    return SampledFeedback(oracle, num_comparisons)


def parse_feedback_spec(spec: str) -> tuple[str, int | None]:
    """``"exact"`` → ``("exact", None)``; ``"sampled:M"`` → ``("sampled", M)`` with ``1 ≤ M ≤ 2**53`` (win counts
    are drawn as float64 Binomials, exact up to 2**53; the cost does not grow with M); anything else → ValueError."""
    from nashlab.games.oracle import MAX_COMPARISONS

    if not isinstance(spec, str):
        raise ValueError(f"feedback must be 'exact' or 'sampled:M'; got {spec!r}")
    if spec == "exact":
        return "exact", None
    if spec.startswith("sampled:"):
        try:
            m = int(spec.split(":", 1)[1])
        except ValueError:
            m = 0
        if 1 <= m <= MAX_COMPARISONS:
            return "sampled", m
        raise ValueError(f"feedback 'sampled:M' needs an integer M in [1, 2**53]; got {spec!r}")
    raise ValueError(f"feedback must be 'exact' or 'sampled:M'; got {spec!r}")
