"""Estimators of the win-rate difference ``g(y) − g(y')``, ``g(y) = P(y ≻ π) = E_{z~π} P[y, z]``: the target every
rule's pairwise loss regresses on (:func:`nashlab.solvers.core.mirror_loss`). Small functions on tensors of judge
outputs, so a tabular driver and an LLM trainer call them alike.

A *judgement* ``J(y, z)`` is the judge's answer to one query "is y better than z?": a hard label (the verdict,
``Bernoulli(P[y, z])``) or a soft label (the judge's probability ``P[y, z]`` itself, as a reward or preference model
gives). Both have mean ``P[y, z]``; for one comparison against ``z ~ π``

    hard:  Var J = g(y)(1 − g(y))                    (law of total variance: E_z[P(1−P)] + Var_z P)
    soft:  Var J = Var_{z~π} P[y, z] = g(y)(1 − g(y)) − E_z[P[y, z](1 − P[y, z])]

so soft labels never have more variance, and strictly less unless every ``P[y, z] ∈ {0, 1}``. Every function below
takes either kind. Shapes: ``...`` batch axes (prompts, games), ``M``/``K``/``L`` samples on the last axes.

Each estimator's variance is derived in its docstring and measured against the exact ``g`` in
``tests/solvers/test_solvers_estimators.py``, which also prints the variance table relative to hard labels.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def win_rate(judgements: Tensor) -> Tensor:
    """``ĝ(y) = (1/M) Σ_m J(y, z_m)``, ``z_m ~ π`` i.i.d. — ``judgements [..., M]`` → ``[...]``.

    Unbiased; ``Var ĝ(y) = v(y)/M`` with ``v`` the one-comparison variance of the module docstring (hard
    ``g(1 − g)``, soft ``Var_z P[y, z]``). Costs ``M`` queries and ``M`` opponent samples.
    """
    return judgements.mean(-1)


def iid_difference(judgements_y: Tensor, judgements_yp: Tensor) -> Tensor:
    """``ĝ(y) − ĝ(y')`` with each response judged against its own ``M`` opponents (``[..., M]`` each → ``[...]``):
    today's target. Unbiased; ``Var = (v(y) + v(y'))/M``; ``2M`` queries, ``2M`` opponent samples."""
    return win_rate(judgements_y) - win_rate(judgements_yp)


def shared_difference(judgements_y: Tensor, judgements_yp: Tensor) -> Tensor:
    """``(1/M) Σ_m (J(y, z_m) − J(y', z_m))``: both responses judged against the *same* ``M`` opponents (a control
    variate: the opponent's draw is common noise and cancels). ``[..., M]`` each → ``[...]``.

    Unbiased; with judgements independent given ``z``:

        Var = (E_z[u(y, z) + u(y', z)] + Var_z(P[y, z] − P[y', z])) / M,   u = P(1 − P) (hard) or 0 (soft)

    against ``iid``'s ``(E_z[u(y) + u(y')] + Var_z P[y, z] + Var_z P[y', z]) / M``: smaller by
    ``2 Cov_z(P[y, z], P[y', z]) / M``, which is large when y and y' rank opponents alike (similar responses).
    ``2M`` queries, ``M`` opponent samples.
    """
    return (judgements_y - judgements_yp).mean(-1)


def loo_win_rates(judgements: Tensor) -> Tensor:
    """Leave-one-out win rates of ``K`` samples of π judged against each other: ``ĝ_i = (1/(K−1)) Σ_{j≠i} J_ij``
    (``judgements [..., K, K]``, diagonal ignored) → ``[..., K]``.

    Given ``y_i``, the other ``K − 1`` samples are i.i.d. draws of π, so ``E[ĝ_i | y_i] = g(y_i)`` and
    ``Var(ĝ_i | y_i) = v(y_i)/(K − 1)``. With a consistent judge (``J_ji = 1 − J_ij``: one query answers both),
    ``K(K−1)/2`` queries give all ``K`` win rates: each comparison serves two responses.
    """
    K = judgements.shape[-1]
    off = 1.0 - torch.eye(K, dtype=judgements.dtype, device=judgements.device)
    return (judgements * off).sum(-1) / (K - 1)


def loo_differences(judgements: Tensor) -> Tensor:
    """Pair targets from ``K ≥ 3`` samples judged against each other, leaving the pair itself out:

        D_ij = (1/(K−2)) Σ_{k≠i,j} (J_ik − J_jk)        (``judgements [..., K, K]`` → ``[..., K, K]``)

    Why leave *two* out: ``ĝ_i − ĝ_j`` of :func:`loo_win_rates` contains ``(J_ij − J_ji)/(K−1)``, whose mean given the
    pair is ``(2P[y_i, y_j] − 1)/(K−1)``, not ``(g(y_i) − g(y_j))/(K−1)``: a pairwise loss regressing on it fits
    ``K/(K−1)·(g − ½)`` (a step ``K/(K−1)`` too long). ``D_ij`` is :func:`shared_difference` over the ``K − 2`` other
    samples, hence conditionally unbiased given ``(y_i, y_j)``, with
    ``Var(D_ij | y_i, y_j) = (E_z[u(y_i, z) + u(y_j, z)] + Var_z(P[y_i, z] − P[y_j, z]))/(K − 2)``.
    A consistent judge answers all ``K(K−1)/2`` pairs' targets with ``K(K−1)/2`` queries.
    """
    K = judgements.shape[-1]
    if K < 3:
        raise ValueError(f"loo_differences needs K ≥ 3 samples; got K={K}")
    off = 1.0 - torch.eye(K, dtype=judgements.dtype, device=judgements.device)
    J = judgements * off
    row = J.sum(-1)  # Σ_{k≠i} J_ik
    # Σ_{k≠i,j} (J_ik − J_jk) = (row_i − J_ij) − (row_j − J_ji)
    D = (row.unsqueeze(-1) - J) - (row.unsqueeze(-2) - J.transpose(-1, -2))
    return D / (K - 2)


def importance_weighted_win_rate(judgements: Tensor, log_pi_z: Tensor, log_pi_old_z: Tensor) -> Tensor:
    """Win rate against π from opponents drawn from an earlier policy π_old (e.g. the previous iteration's samples):

        ĝ(y) = (1/L) Σ_l w_l J(y, z_l),   w_l = π(z_l)/π_old(z_l),   z_l ~ π_old

    (``judgements``, ``log_pi_z``, ``log_pi_old_z``: ``[..., L]`` → ``[...]``; for a sequence policy the log-probs are
    sums over tokens). Unbiased when the ``z_l`` are independent of π given π_old (they did not move π: e.g. held out
    one step, as the tabular ``estimator=reuse`` does); ``Var = (E_{π_old}[w² (u + P²)] − g²)/L``, which is
    ``v(y)/L`` at π = π_old and grows with ``χ²(π‖π_old)`` (``E_{π_old} w² = 1 + χ²``): small while π moves little per
    step. Saves generating ``L`` fresh opponents; the judge queries are the same.
    """
    w = torch.exp(log_pi_z - log_pi_old_z)
    return (w * judgements).mean(-1)


def tree_difference(judgements_y: Tensor, judgements_yp: Tensor) -> Tensor:
    """Target for two responses that are siblings in a prefix tree of samples (they share every token up to their
    last branching point), judged against the same opponents drawn from the tree's other branches:
    ``(1/M) Σ_m (J(y, z_m) − J(y', z_m))`` — :func:`shared_difference` applied to the tree's topology.

    Unbiased when the opponents are draws of π independent of the pair (another subtree); variance as in
    :func:`shared_difference`, ``(E_z[u(y, z) + u(y', z)] + Var_z(P[y, z] − P[y', z]))/M``. The tree is what makes
    ``Cov_z(P[y, z], P[y', z])`` large: siblings share a prefix, so they tend to win and lose against the same
    opponents, and that common part cancels. Against i.i.d. pairs at equal queries (``2M`` each) the ratio is
    ``1 − 2 Cov / (E[u(y)+u(y')] + Var P_y + Var P_y')``; ``tests/solvers/test_solvers_estimators.py`` measures it on
    a game whose actions are leaves of a prefix tree.
    """
    return shared_difference(judgements_y, judgements_yp)
