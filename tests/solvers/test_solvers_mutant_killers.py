"""Tests written for mutants of the rules (``scripts/mutation_check.py``, S01–S28) that the rest of the suite missed.

Each test checks a derived quantity against an independent computation of its documented formula.
"""

import numpy as np
import pytest
import torch
from scipy.special import log_softmax, logsumexp

from nashlab.games import make_matrix
from nashlab.solvers import RULES, exact_feedback


def _game(n=6, seed=3):
    P = make_matrix("egpo", n=n, seed=seed)
    rng = np.random.default_rng(seed)
    return P, log_softmax(rng.normal(size=n)), log_softmax(rng.normal(size=n))


#: One-phase rules on a single policy whose opponents are π_t or past iterates: at t = 0 every such opponent is π_0
#: and every anchor is ℓ_0 or ℓ_ref, so the first step is computable by hand.
FIRST_STEP_RULES = sorted(
    name for name, r in RULES.items()
    if len(r.phases) == 1 and not r.multiplayer
    and all(t.kind in ("iterate", "past") for _, _, opps in r.resolved_phases(r.hparams()) for t, _ in opps))


def test_first_step_rules_are_the_expected_ones():
    assert {"inpo", "sppo", "omwu", "mmd"} <= set(FIRST_STEP_RULES)


@pytest.mark.parametrize("name", FIRST_STEP_RULES)
def test_step_log_ratio_gives_the_tabular_step_through_its_partition(name):
    """``RuleLoss.step_log_ratio`` is ``s(y) = a(y) + c·g(y) − log π_t(y)``, so ``Z = E_{y~π_t} e^{s(y)}`` is the
    normaliser of the step and ``log π_{t+1} = log π_t + s − log Z`` (what the pointwise loss's ``log Ẑ`` estimates).
    Checked on the first step: ``s`` against ``Σ_k w_k ℓ_k + c·(Σ_m v_m)·Pπ_0 − ℓ_0`` written out in numpy, and
    ``log π_t + s − log Z`` against the rule's own tabular step (mutant S13 drops ``− log π_t``)."""
    rule = RULES[name]
    hp = rule.hparams()
    P, l_ref, l0 = _game()
    anchors, c, opps = rule.resolved_phases(hp)[0]
    g = sum(v for _, v in opps) * (P @ np.exp(l0))
    by_source = {"iterate": l0, "ref": l_ref}
    a = sum(w * by_source.get(t.source, l0) for t, w in anchors)  # past:j is π_0 at the start
    s_hand = a + c * g - l0

    sources = {t.source: torch.tensor(by_source.get(t.source, l0)) for t, _ in anchors}
    sources["iterate"] = torch.tensor(l0)
    s = rule.loss(hp).step_log_ratio(sources, torch.tensor(g)).numpy()
    np.testing.assert_allclose(s, s_hand, atol=1e-12, rtol=0)

    log_z = logsumexp(l0 + s)  # log E_{π_0} e^{s}
    solver = rule.make(**hp)
    nxt = solver.step(solver.init(torch.tensor(l_ref), torch.tensor(l0)), exact_feedback(torch.tensor(P))).log_pi
    np.testing.assert_allclose(l0 + s - log_z, nxt.numpy(), atol=1e-12, rtol=0)
