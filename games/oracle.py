"""Sampled preference oracles: Bernoulli comparisons drawn from ``P``, seeded, on any torch device.

A solver given sampled feedback sees only these draws, never ``P`` itself, as an LLM trainer sees only a judge.
"""

from __future__ import annotations

import numpy as np
import torch

from .preference import PreferenceGame, validate_preference_matrix


class PreferenceOracle:
    """Answers comparison queries ``y ≻ y'?`` with ``Bernoulli(P[y, y'])`` and counts them.

    Args:
        P: ``[..., n, n]`` preference matrix (numpy or torch; validated once) or a :class:`PreferenceGame`.
        seed: seed of the oracle's own generator (comparisons are reproducible for a given seed and call order).
        device: torch device; defaults to ``P``'s device (CPU for numpy).

    Attributes:
        queries: number of comparisons answered so far, per game of the batch.

    Raises:
        ValueError: if ``P`` is not a preference matrix or ``seed`` is not a non-negative integer.
    """

    def __init__(self, P, seed: int = 0, device: torch.device | str | None = None) -> None:
        if isinstance(P, PreferenceGame):
            P = P.P
        if device is None:
            device = P.device if isinstance(P, torch.Tensor) else "cpu"
        # Validated once here (a host copy for a device tensor), never in the sampling hot path.
        validate_preference_matrix(P.detach().cpu().numpy() if isinstance(P, torch.Tensor) else P)
        if not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
            raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
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

        For each action ``y``: draw ``y'_1..y'_M ~ π_opp`` and outcomes ``o_m ~ Bernoulli(P[y, y'_m])``;
        ``ĝ_y = (1/M) Σ_m o_m`` has ``E ĝ_y = (Pπ_opp)_y`` and variance ≤ 1/(4M). Costs ``n·M`` queries.

        Args:
            pi_opp: ``[..., n]`` opponent policy.
            num_comparisons: ``M ≥ 1``.

        Returns:
            ``[..., n]`` estimates in ``[0, 1]``.
        """
        if not (isinstance(num_comparisons, int) and num_comparisons >= 1):
            raise ValueError(f"num_comparisons must be an integer ≥ 1; got {num_comparisons!r}")
        n = self.n
        batch = torch.broadcast_shapes(pi_opp.shape[:-1], self.P.shape[:-2])
        opp = self.sample_actions(pi_opp.expand(*batch, n), n * num_comparisons).reshape(*batch, n, num_comparisons)
        rows = self.P.expand(*batch, n, n)
        probs = torch.gather(rows, -1, opp)  # [..., n, M]: P[y, y'_m]
        self.queries += n * num_comparisons
        return torch.bernoulli(probs, generator=self.generator).mean(-1)
