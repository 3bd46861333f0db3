"""The trainer's self-play win rates against SPPO's pipeline (docs/algorithms.md §5): SPPO scores response i among K
samples by ``(1/K) Σ_j P̂(y_i ≻ y_j)`` with the j = i term (½) included; the trainer leaves it out."""

import itertools

import numpy as np

from helpers import tiny_run
from nashlab.llm_bridge.trainer import _Rollout


def test_leave_one_out_is_unbiased_and_counting_a_response_against_itself_is_not():
    """Exact expectations by enumerating every K-tuple of responses (soft judge: outcome = P⁺[a(y), a(y')]):
    ``E[ĝ(y_0) | y_0]`` of the trainer's estimate is ``(P⁺π)(a(y_0))``; SPPO's estimate from the same judgments,
    ``((K−1)·ĝ + ½)/K``, has expectation ``((K−1)/K)(P⁺π) + 1/(2K)``: pulled towards ½, the step shrunk by (K−1)/K."""
    tr = tiny_run("sppo")
    tr.judge.sample = False  # outcomes are the judge's probabilities: expectations become exact sums
    texts = ["rock", "paper", "scissors", "hello"]  # "hello" is the dominated extra action
    q = np.array([0.4, 0.3, 0.2, 0.1])
    P = tr.game.P_aug[0]
    acts = [tr.game.parse(t) for t in texts]
    K = 3
    loo = np.zeros(len(texts))
    for tup in itertools.product(range(len(texts)), repeat=K - 1):  # y_0 fixed, y_1 … y_{K−1} ~ q
        w = np.prod(q[list(tup)])
        for first in range(len(texts)):
            r = _Rollout(0, [[0]] * K, [texts[first]] + [texts[k] for k in tup])
            loo[first] += w * float(tr._judge_pairs(r, phase=0)[0])
    exact = np.array([P[a] @ np.bincount(acts, weights=q, minlength=P.shape[0]) for a in acts])
    np.testing.assert_allclose(loo, exact, atol=1e-12)
    sppo = ((K - 1) * loo + 0.5) / K
    np.testing.assert_allclose(sppo, (K - 1) / K * exact + 1 / (2 * K), atol=1e-12)
    assert np.abs(sppo - exact).max() > 0.05  # the bias is visible at K = 3
