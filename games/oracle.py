"""Sampled preference oracles: Bernoulli comparisons drawn from ``P``, seeded, on any torch device.

A solver given sampled feedback sees only these draws, never ``P`` itself, as an LLM trainer sees only a judge.
"""

from __future__ import annotations

import numpy as np
import torch

from .preference import PreferenceGame, validate_preference_matrix, validate_seed

#: Largest number of comparisons per action in one :meth:`PreferenceOracle.win_rates` call: the win counts are drawn
#: as float64, which holds every integer up to 2**53 exactly.
MAX_COMPARISONS = 2**53


class PreferenceOracle:
    """Answers comparison queries ``y ≻ y'?`` with ``Bernoulli(P[y, y'])`` and counts them.

    Args:
        P: ``[..., n, n]`` preference matrix (numpy or torch; validated once) or a :class:`PreferenceGame`.
        seed: seed of the oracle's own generator (comparisons are reproducible for a given seed and call order).
        device: torch device; defaults to ``P``'s device (CPU for numpy).

    Attributes:
        queries: number of comparisons answered so far, per game of the batch.

    Raises:
        ValueError: if ``P`` is not a preference matrix or ``seed`` is not an integer in ``[0, 2**63)``.
    """

    def __init__(self, P, seed: int = 0, device: torch.device | str | None = None) -> None:
        if isinstance(P, PreferenceGame):
            P = P.P
        if device is None:
            device = P.device if isinstance(P, torch.Tensor) else "cpu"
        # Validated once here (a host copy for a device tensor), never in the sampling hot path.
        validate_preference_matrix(P.detach().cpu().numpy() if isinstance(P, torch.Tensor) else P)
        seed = validate_seed(seed)
        if isinstance(P, np.ndarray) and not P.flags.writeable:
            P = P.copy()  # a PreferenceGame's P is read-only; torch warns on non-writable buffers
        self.P = torch.as_tensor(P, dtype=torch.float64, device=device)
        self.generator = torch.Generator(device=self.P.device)
        self.generator.manual_seed(int(seed))
        self.queries = 0

    @property
    def n(self) -> int:
        return self.P.shape[-1]

    def compare(self, y: torch.Tensor, y_prime: torch.Tensor) -> torch.Tensor:
        """One Bernoulli comparison per index pair.

        Args:
            y, y_prime: integer tensors ``[..., M]`` of actions (batch axes matching ``P``'s).

        Returns:
            float tensor ``[..., M]`` of outcomes in {0, 1}, ``E = P[y, y']``.
        """
        n = self.n
        flat = (y * n + y_prime).to(torch.long)
        probs = torch.gather(self.P.flatten(-2).expand(*flat.shape[:-1], n * n), -1, flat)
        self.queries += y.shape[-1]
        return torch.bernoulli(probs, generator=self.generator)

    def sample_actions(self, pi: torch.Tensor, num_samples: int) -> torch.Tensor:
        """``[..., num_samples]`` i.i.d. actions from ``pi [..., n]`` (with the oracle's generator)."""
        flat = pi.reshape(-1, pi.shape[-1]).to(self.P.dtype)
        idx = torch.multinomial(flat, num_samples, replacement=True, generator=self.generator)
        return idx.reshape(*pi.shape[:-1], num_samples)

    def win_rates(self, pi_opp: torch.Tensor, num_comparisons: int) -> torch.Tensor:
        """Unbiased estimate of ``g = P π_opp`` from ``num_comparisons`` comparisons per action.

        For each action ``y``, ``M`` comparisons against opponents ``y'_m ~ π_opp`` with outcomes
        ``o_m ~ Bernoulli(P[y, y'_m])``: the ``o_m`` are i.i.d. ``Bernoulli((Pπ_opp)_y)`` (the opponent is drawn
        afresh each time), so their sum is drawn directly as one ``Binomial(M, (Pπ_opp)_y)``: the same distribution
        as the two-stage draw, in O(1) time and memory in ``M``. ``ĝ_y = (1/M) Σ_m o_m`` has ``E ĝ_y = (Pπ_opp)_y``
        and variance ``g_y(1 − g_y)/M ≤ 1/(4M)``. Costs ``n·M`` queries.

        Args:
            pi_opp: ``[..., n]`` opponent policy.
            num_comparisons: ``1 ≤ M ≤`` :data:`MAX_COMPARISONS`.

        Returns:
            ``[..., n]`` estimates in ``[0, 1]``.
        """
        if not (isinstance(num_comparisons, int) and not isinstance(num_comparisons, bool)
                and 1 <= num_comparisons <= MAX_COMPARISONS):
            raise ValueError(f"num_comparisons must be an integer in [1, 2**53]; got {num_comparisons!r}")
        n = self.n
        batch = torch.broadcast_shapes(pi_opp.shape[:-1], self.P.shape[:-2])
        g = (self.P.expand(*batch, n, n) @ pi_opp.to(self.P.dtype).expand(*batch, n).unsqueeze(-1)).squeeze(-1)
        counts = torch.full_like(g, float(num_comparisons))
        self.queries += n * num_comparisons
        return torch.binomial(counts, g.clamp(0.0, 1.0), generator=self.generator) / num_comparisons
