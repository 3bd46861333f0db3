"""Contextual games: one preference matrix per prompt, generated as a smooth function of the prompt's features.

A :class:`ContextualGame` pairs a batched :class:`PreferenceGame` (``P [C, n, n]``, ``π_ref [C, n]``) with a feature
vector per context (``features [C, d]``), so a neural policy mapping features to logits can generalise across prompts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_softmax

from .generators import MAX_ENTRIES, MAX_SCALE
from .preference import PreferenceGame


@dataclass(frozen=True, eq=False)
class ContextualGame:
    """A batch of per-context games and the features that generated them.

    Attributes:
        game: batched game, ``P [C, n, n]``, ``pi_ref [C, n]``.
        features: ``[C, d]`` float64 context features.
    """

    game: PreferenceGame
    features: np.ndarray

    def __post_init__(self) -> None:
        feats = np.asarray(self.features, dtype=np.float64)
        if self.game.P.ndim != 3:
            raise ValueError(f"a contextual game needs P of shape [C, n, n]; got {self.game.P.shape}")
        if feats.ndim != 2 or feats.shape[0] != self.game.P.shape[0]:
            raise ValueError(f"features must have shape [C={self.game.P.shape[0]}, d]; got {feats.shape}")
        if not np.isfinite(feats).all():
            raise ValueError("features must be finite")
        object.__setattr__(self, "features", feats)

    @property
    def num_contexts(self) -> int:
        return self.game.P.shape[0]


def contextual_embedding(
    n: int = 5, contexts: int = 64, dim: int = 4, features: int = 3, scale: float = 3.0, ref_scale: float = 1.0,
    seed: int = 0,
) -> ContextualGame:
    """A contextual latent-embedding game: ``P_c[i, j] = σ(scale · u_iᵀ R(x_c) u_j)``, ``R(x) = Σ_k x_k R_k``.

    ``x_c ~ N(0, I_features)`` are the context features, ``u_i ~ N(0, I_dim)/√dim`` the action embeddings and
    ``R_k`` random skew-symmetric matrices, so ``R(x)`` is skew for every context (hence ``P_c + P_cᵀ = 1``) and the
    game varies smoothly with ``x``; skew bilinear preferences are cyclic (see
    :func:`nashlab.games.generators.embedding`). The reference policy also depends on the context:
    ``π_ref(·|x) = softmax(ref_scale · W x)``.
    """
    if not (isinstance(contexts, (int, np.integer)) and contexts >= 1):
        raise ValueError(f"contexts must be an integer ≥ 1; got {contexts!r}")
    if not (isinstance(n, (int, np.integer)) and n >= 2):
        raise ValueError(f"n must be an integer ≥ 2; got {n!r}")
    for name, value in (("dim", dim), ("features", features)):
        if not (isinstance(value, (int, np.integer)) and value >= 1):
            raise ValueError(f"{name} must be an integer ≥ 1; got {value!r}")
    if max(contexts, features, n) * dim * dim > MAX_ENTRIES:
        raise ValueError(f"dim = {dim} is too large for contexts = {contexts}, features = {features} "
                         f"(at most {MAX_ENTRIES:.3g} entries in R(x))")
    for name, value in (("scale", scale), ("ref_scale", ref_scale)):
        if not (isinstance(value, (int, float, np.number)) and 0 <= value <= MAX_SCALE):
            raise ValueError(f"{name} must be a number in [0, {MAX_SCALE:g}]; got {value!r}")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(contexts, features))
    u = rng.normal(size=(n, dim)) / np.sqrt(dim)
    Rk = rng.normal(size=(features, dim, dim))
    Rk = Rk - np.swapaxes(Rk, -1, -2)
    R = np.einsum("ck,kab->cab", x, Rk)  # [C, dim, dim], skew per context
    S = np.einsum("ia,cab,jb->cij", u, R, u)
    S = 0.5 * (S - np.swapaxes(S, -1, -2))
    P = expit(scale * S)
    W = rng.normal(size=(n, features))
    pi_ref = np.exp(log_softmax(ref_scale * x @ W.T, axis=-1))
    if not (pi_ref > 0).all():
        raise ValueError(f"ref_scale={ref_scale:g} is too large: softmax(ref_scale·Wx) underflows, giving actions "
                         "probability 0 (π_ref needs full support); use a smaller ref_scale")
    game = PreferenceGame(P, pi_ref, name=f"contextual:n={n},contexts={contexts},seed={seed}")
    return ContextualGame(game, x)
