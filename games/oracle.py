"""Sampled preference oracles: Bernoulli comparisons drawn from ``P``, seeded, on any torch device.

A solver given sampled feedback sees only these draws, never ``P`` itself, as an LLM trainer sees only a judge.
"""

from __future__ import annotations

import numpy as np
import torch

from .preference import PreferenceGame, validate_preference_matrix, validate_seed

LABELS = ("hard", "soft")
#: Soft labels with i.i.d. opponents draw each opponent when there are at most this many (O(n·M) work); beyond,
#: per-action opponent counts (O(n²) work, independent of M).
DIRECT_DRAWS = 1 << 22


def check_labels(labels) -> str:
    """``labels`` after checking it is ``"hard"`` (Bernoulli verdicts) or ``"soft"`` (the judge's probability)."""
    if labels not in LABELS:
        raise ValueError(f"labels must be 'hard' or 'soft'; got {labels!r}")
    return labels


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

    def compare(self, y: torch.Tensor, y_prime: torch.Tensor, labels: str = "hard") -> torch.Tensor:
        """One comparison per index pair.

        Args:
            y, y_prime: integer tensors ``[..., M]`` of actions (batch axes matching ``P``'s).
            labels: ``"hard"``: the judge's verdict, ``Bernoulli(P[y, y'])``; ``"soft"``: the judge's probability
                ``P[y, y']`` itself (what a reward or preference model returns). Either costs one query per pair.

        Returns:
            float tensor ``[..., M]``: outcomes in {0, 1} (hard) or probabilities (soft); ``E = P[y, y']`` both ways.
        """
        labels = check_labels(labels)
        n = self.n
        flat = (y * n + y_prime).to(torch.long)
        probs = torch.gather(self.P.flatten(-2).expand(*flat.shape[:-1], n * n), -1, flat)
        self.queries += y.shape[-1]
        if labels == "soft":
            return probs
        return torch.bernoulli(probs, generator=self.generator)

    def opponent_counts(self, pi: torch.Tensor, num_samples: int) -> torch.Tensor:
        """How often each action appears among ``num_samples`` i.i.d. draws from ``pi [..., n]``: ``[..., n]`` counts
        (float64, summing to ``num_samples``), drawn as ``n − 1`` conditional Binomials (``c_k ~ Bin(M − Σ_{j<k} c_j,
        π_k / Σ_{j≥k} π_j)``, the multinomial's chain rule), so the cost does not grow with ``num_samples``."""
        pi = pi.to(self.P.dtype).clamp_min(0.0)
        left = torch.full_like(pi[..., 0], float(num_samples))
        mass = pi.sum(-1)
        counts = []
        for k in range(pi.shape[-1] - 1):
            p = torch.where(mass > 0, pi[..., k] / mass.clamp_min(1e-300), torch.zeros_like(mass)).clamp(0.0, 1.0)
            c = torch.binomial(left, p, generator=self.generator)
            counts.append(c)
            left = left - c
            mass = mass - pi[..., k]
        counts.append(left)
        return torch.stack(counts, -1)

    def shared_win_rates(self, counts: torch.Tensor, labels: str = "hard", weights: torch.Tensor | None = None
                         ) -> torch.Tensor:
        """Win rates of every action against one shared set of opponents given by ``counts [..., n]`` (``M = Σ c``):
        ``ĝ_y = (1/M) Σ_z w_z W_{y,z}`` with ``W_{y,z}`` the wins of ``y`` in its ``c_z`` comparisons with ``z``
        (hard: ``Binomial(c_z, P[y, z])``; soft: ``c_z P[y, z]``) and importance weights ``w`` (``None``: 1).

        Every action meets the same opponents, so their sampling noise is common to all ``ĝ_y`` and cancels in the
        differences ``ĝ_y − ĝ_{y'}`` a rule's step depends on (a control variate). Costs ``n·M`` queries.
        """
        labels = check_labels(labels)
        n = self.n
        batch = torch.broadcast_shapes(counts.shape[:-1], self.P.shape[:-2])
        P = self.P.expand(*batch, n, n)
        c = counts.to(P.dtype).expand(*batch, n).unsqueeze(-2).expand(*batch, n, n)
        wins = c * P if labels == "soft" else torch.binomial(c.contiguous(), P.clamp(0.0, 1.0).contiguous(),
                                                             generator=self.generator)
        if weights is not None:
            wins = wins * weights.to(P.dtype).unsqueeze(-2)
        self.queries += n * int(round(float(counts.reshape(-1, n)[0].sum())))
        return wins.sum(-1) / counts.sum(-1, keepdim=True).clamp_min(1.0).to(P.dtype)

    def sample_actions(self, pi: torch.Tensor, num_samples: int) -> torch.Tensor:
        """``[..., num_samples]`` i.i.d. actions from ``pi [..., n]`` (with the oracle's generator)."""
        flat = pi.reshape(-1, pi.shape[-1]).to(self.P.dtype)
        idx = torch.multinomial(flat, num_samples, replacement=True, generator=self.generator)
        return idx.reshape(*pi.shape[:-1], num_samples)

    def win_rates(self, pi_opp: torch.Tensor, num_comparisons: int, labels: str = "hard") -> torch.Tensor:
        """Unbiased estimate of ``g = P π_opp`` from ``num_comparisons`` comparisons per action.

        For each action ``y``, ``M`` comparisons against opponents ``y'_m ~ π_opp`` with outcomes
        ``o_m ~ Bernoulli(P[y, y'_m])``: the ``o_m`` are i.i.d. ``Bernoulli((Pπ_opp)_y)`` (the opponent is drawn
        afresh each time), so their sum is drawn directly as one ``Binomial(M, (Pπ_opp)_y)``: the same distribution
        as the two-stage draw, in O(1) time and memory in ``M``. ``ĝ_y = (1/M) Σ_m o_m`` has ``E ĝ_y = (Pπ_opp)_y``
        and variance ``g_y(1 − g_y)/M ≤ 1/(4M)``. Costs ``n·M`` queries.

        With ``labels="soft"`` the judge returns ``P[y, y'_m]`` instead of a verdict: ``ĝ_y = (1/M) Σ_m P[y, y'_m]``,
        variance ``Var_{y'~π}(P[y, y'])/M = (g_y(1 − g_y) − E_{y'}[P(1 − P)])/M``, never more than the hard label's
        (the Bernoulli term of the law of total variance is gone).

        Args:
            pi_opp: ``[..., n]`` opponent policy.
            num_comparisons: ``1 ≤ M ≤`` :data:`MAX_COMPARISONS`.

        Returns:
            ``[..., n]`` estimates in ``[0, 1]``.
        """
        if not (isinstance(num_comparisons, int) and not isinstance(num_comparisons, bool)
                and 1 <= num_comparisons <= MAX_COMPARISONS):
            raise ValueError(f"num_comparisons must be an integer in [1, 2**53]; got {num_comparisons!r}")
        labels = check_labels(labels)
        n = self.n
        batch = torch.broadcast_shapes(pi_opp.shape[:-1], self.P.shape[:-2])
        pi_b = pi_opp.to(self.P.dtype).expand(*batch, n)
        if labels == "soft":
            self.queries += n * num_comparisons
            rows = int(np.prod(batch, dtype=np.int64))
            if rows * n * num_comparisons <= DIRECT_DRAWS:
                # each action's own M opponents drawn directly: O(n·M) work
                z = torch.multinomial(pi_b.reshape(-1, n).clamp_min(0.0), n * num_comparisons, replacement=True,
                                      generator=self.generator).reshape(*batch, n, num_comparisons)
                return torch.gather(self.P.expand(*batch, n, n), -1, z).mean(-1)
            # many comparisons: counts [..., y, z] ~ Multinomial(M, π) per row y, O(n²) whatever M is
            counts = self.opponent_counts(pi_b.unsqueeze(-2).expand(*batch, n, n), num_comparisons)
            return (counts * self.P.expand(*batch, n, n)).sum(-1) / num_comparisons
        g = (self.P.expand(*batch, n, n) @ pi_b.unsqueeze(-1)).squeeze(-1)
        counts = torch.full_like(g, float(num_comparisons))
        self.queries += n * num_comparisons
        return torch.binomial(counts, g.clamp(0.0, 1.0), generator=self.generator) / num_comparisons
