"""How cyclic a preference game is, and how certain its equilibrium is when P was estimated from comparisons.

* :func:`condorcet_winner` — the action that beats every other one with probability > ½, if any;
* :func:`cycles3` — the number of cyclic triples of the majority relation;
* :func:`cyclic_share` — the cyclic part's share of ``P − ½`` in the Hodge decomposition the ``hodge`` generator uses;
* :func:`bootstrap_equilibrium` — percentile intervals of the maximal lottery over resampled comparisons;
* :func:`structure_report` — all of them as the JSON fields of ``nashlab nash``.
"""

from __future__ import annotations

import numpy as np

from .generators import hodge_parts
from .nash import exact_nash
from .preference import validate_preference_matrix

#: ``P[i, j] − ½`` at most this far from 0 is a tie (no majority edge): counts give exact ½ for a tie, and text files
#: round to ~1e-16.
TIE_TOL = 1e-12
#: An action is in the support of an equilibrium when its probability exceeds this (as in ``nashlab nash``).
SUPPORT_TOL = 1e-9
#: Most bootstrap resamples one call may ask for (one LP each; 100,000 at n = 10 is several minutes).
MAX_RESAMPLES = 100_000


def _per_game(fn, P):
    P = validate_preference_matrix(P)
    if P.ndim == 2:
        return fn(P)
    return [fn(m) for m in P.reshape(-1, P.shape[-1], P.shape[-1])]


def _condorcet_single(P: np.ndarray) -> int | None:
    beats = (P - 0.5) > TIE_TOL
    wins = beats.sum(axis=1)
    winner = np.flatnonzero(wins == P.shape[0] - 1)
    return int(winner[0]) if winner.size else None


def condorcet_winner(P):
    """The Condorcet winner: the ``i`` with ``P[i, j] > ½`` for every ``j ≠ i`` (strictly, beyond :data:`TIE_TOL`),
    else ``None``. A Condorcet winner is the unique equilibrium, pure. A batch ``[..., n, n]`` gives a flat list.

    >>> condorcet_winner([[0.5, 0.7], [0.3, 0.5]])
    0
    """
    return _per_game(_condorcet_single, P)


def _cycles3_single(P: np.ndarray) -> int:
    # float64, not int64: numpy's integer matmul bypasses BLAS (78 s at n = 2,000, against 0.2 s). Exact, since
    # every entry of D² is at most n and trace(D³) at most n³ < 2**53 for any n that fits in memory.
    D = ((P - 0.5) > TIE_TOL).astype(np.float64)
    return int(round(float(np.einsum("ij,ji->", D @ D, D)))) // 3


def cycles3(P):
    """The number of cyclic triples: unordered ``{i, j, k}`` with ``i ≻ j ≻ k ≻ i`` in the majority relation
    (``i ≻ j`` iff ``P[i, j] > ½``; a tie is no edge). With ``D = [P > ½]``, ``cycles3 = trace(D³)/3``: each directed
    3-cycle is a closed walk of length 3 from each of its three vertices, and a triple holds at most one orientation.
    For a tournament without ties this is Kendall & Babington Smith's ``C(n, 3) − Σ_i C(s_i, 2)`` (s_i = wins of i).

    >>> cycles3([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]])
    1
    """
    return _per_game(_cycles3_single, P)


def _share_single(P: np.ndarray):
    A = P - 0.5
    total = float(np.sum(A * A))
    if total == 0.0:
        return None
    _, C = hodge_parts(A)
    return float(np.sum(C * C)) / total


def cyclic_share(P):
    """``‖C‖²_F / ‖P − ½‖²_F``: the cyclic (divergence-free) part's share of the flow ``A = P − ½``.

    ``A = grad(s) + C`` is the Hodge decomposition of :func:`~nashlab.games.generators.hodge_parts` (``s = A·1/n``);
    the two parts are orthogonal, so the shares of the gradient (transitive) and cyclic parts sum to 1. 0 means
    ``P`` is a pure ranking flow (``P − ½ = s_i − s_j``), 1 means no net score (``A·1 = 0``, uniform is an equilibrium).
    ``hodge:cyclic=c`` mixes unit-norm parts, so its share is ``c² / ((1 − c)² + c²)``. ``None`` when ``P ≡ ½``.
    """
    return _per_game(_share_single, P)


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _support(pi: np.ndarray) -> np.ndarray:
    return pi > SUPPORT_TOL


def bootstrap_equilibrium(comparisons, *, resamples: int = 200, seed: int = 0, level: float = 0.95) -> dict:
    """Parametric bootstrap of the maximal lottery over resampled comparisons.

    For every pair ``i < j`` with ``T = N[i, j] + N[j, i]`` comparisons (``round(T)`` when ties made it fractional),
    draw ``W ~ Binomial(round(T), N[i, j] / T)`` wins of i and ``round(T) − W`` of j, rebuild
    ``P* = (W + α) / (T + 2α)`` with the data's prior α, and solve ``π* = exact_nash(P*)``. Per item, the interval is
    the percentile interval ``[q_{(1−level)/2}, q_{(1+level)/2}]`` of ``π*_i`` over the resamples; ``support_same`` is
    the fraction of resamples whose support (probability > 1e-9) equals the point estimate's.

    Args:
        comparisons: a :class:`~nashlab.games.datasets.Comparisons`.
        resamples: number of bootstrap draws (≥ 1).
        seed: seed of ``numpy.random.default_rng``; the same seed gives the same intervals.
        level: coverage of the intervals, in (0, 1).

    Returns:
        a dict of plain Python values: ``resamples``, ``seed``, ``level``, ``policy`` (the point estimate), ``low``,
        ``high`` (lists, one per item), ``support`` (the point estimate's), ``support_same``.
    """
    if not _is_int(resamples) or not 1 <= resamples <= MAX_RESAMPLES:
        raise ValueError(f"resamples must be an integer in 1..{MAX_RESAMPLES}; got {resamples!r}")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"level must lie in (0, 1); got {level!r}")
    from .datasets import counts_to_preference

    N = np.asarray(comparisons.wins, dtype=np.float64)
    n = N.shape[0]
    alpha = float(comparisons.prior)
    iu, ju = np.triu_indices(n, 1)
    total = N[iu, ju] + N[ju, iu]
    trials = np.maximum(np.rint(total), total > 0).astype(np.int64)  # a fractional pair keeps ≥ 1 comparison
    p_win = np.divide(N[iu, ju], total, out=np.full(total.shape, 0.5), where=total > 0)
    rng = np.random.default_rng(int(seed))
    pis = np.empty((int(resamples), n))
    Ns = np.zeros((n, n))
    for b in range(int(resamples)):  # one [n, n] at a time: memory stays O(n²) for any number of resamples
        W = rng.binomial(trials, p_win)
        Ns[iu, ju], Ns[ju, iu] = W, trials - W
        pis[b] = exact_nash(counts_to_preference(Ns, alpha, items=comparisons.items, source=comparisons.source))
    point = exact_nash(comparisons.preference_matrix())
    q = [(1.0 - level) / 2.0, (1.0 + level) / 2.0]
    low, high = np.quantile(pis, q, axis=0)
    same = np.all(_support(pis) == _support(point)[None, :], axis=1)
    return {
        "resamples": int(resamples), "seed": int(seed), "level": float(level),
        "policy": point.tolist(), "low": low.tolist(), "high": high.tolist(),
        "support": np.flatnonzero(_support(point)).tolist(), "support_same": float(same.mean()),
    }


def structure_report(P, spec=None, *, resamples: int = 200, seed: int = 0, level: float = 0.95) -> dict:
    """The fields ``nashlab nash --json`` adds for any game: ``condorcet_winner``, ``cycles3``, ``cyclic_share``
    (lists for a batch), and, when ``spec`` names count data (:func:`~nashlab.games.datasets.load_real_data`),
    ``items`` and ``bootstrap`` (:func:`bootstrap_equilibrium`, ``None`` when ``resamples`` is 0 or the data are not
    counts). ``bootstrap_note`` says what a probability table's bootstrap assumes.
    """
    if not _is_int(resamples) or not 0 <= resamples <= MAX_RESAMPLES:
        raise ValueError(f"the number of bootstrap resamples must be an integer in 0..{MAX_RESAMPLES}; "
                         f"got {resamples!r}")
    out = {"condorcet_winner": condorcet_winner(P), "cycles3": cycles3(P), "cyclic_share": cyclic_share(P)}
    from .datasets import load_real_data

    real = load_real_data(spec) if isinstance(spec, str) else None
    if real is not None:
        out["items"] = list(real.items)
        out["bootstrap"] = (
            bootstrap_equilibrium(real.comparisons, resamples=resamples, seed=seed, level=level)
            if real.comparisons is not None and resamples > 0 else None
        )
        if real.note:
            out["bootstrap_note"] = real.note
    return out
