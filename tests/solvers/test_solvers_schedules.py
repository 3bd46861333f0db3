"""Step-size schedules (:mod:`nashlab.solvers.schedules`) and the sampled-feedback options (labels, estimator): the
formulas against direct computations, a scheduled solver against a hand loop, unbiasedness of every estimator inside
the solver's feedback call, and the refusals."""

import math

import numpy as np
import pytest
import torch

from nashlab.games import PreferenceOracle, make_matrix
from nashlab.solvers import make_solver, solve
from nashlab.solvers.feedback import SampledFeedback, make_feedback, parse_feedback
from nashlab.solvers.schedules import SCHEDULES, scheduled, step_size


@pytest.mark.parametrize("t", [0, 1, 7, 1000])
def test_step_size_formulas(t):
    eta0, beta = 0.4, 0.3
    assert step_size("constant", eta0, beta, t) == eta0
    assert step_size("inverse-t", eta0, beta, t) == pytest.approx(eta0 / (1 + beta * eta0 * t))
    assert step_size("inverse-sqrt-t", eta0, beta, t) == pytest.approx(eta0 / math.sqrt(1 + t))
    # theory: 2/(β(t + t0)) with t0 = 2/(βη0) for a regularised rule, η0/√(1+t) for Hedge
    assert step_size("theory", eta0, beta, t, solver="egpo") == pytest.approx(2 / (beta * (t + 2 / (beta * eta0))))
    assert step_size("theory", eta0, beta, t, solver="mwu") == pytest.approx(eta0 / math.sqrt(1 + t))
    for s in SCHEDULES:  # never above η_0: the rule's step-size condition at η_0 holds throughout
        assert step_size(s, eta0, beta, t, solver="nash-mp") <= eta0


@pytest.mark.parametrize("rule", ["egpo", "nash-mp", "inpo", "mmd", "td-mnpo", "omwu", "nash-md", "sppo"])
def test_scheduled_solver_equals_hand_loop(rule):
    """A scheduled solver's step t is the rule built at η_t (TD-MNPO: ρ = η_t β follows)."""
    P = torch.tensor(make_matrix("egpo", n=5, seed=2))
    log_ref = torch.log_softmax(torch.tensor(np.random.default_rng(0).normal(size=5)), -1)
    beta, eta0 = 0.2, (0.1 if rule == "omwu" else 0.5)
    s = scheduled(rule, "inverse-t", make_solver, eta0, beta)
    fb = lambda pi: P @ pi  # noqa: E731
    a = b = s.init(log_ref)
    for t in range(30):
        a = s.step(a, fb)
        b = make_solver(rule, eta=eta0 / (1 + beta * eta0 * t), beta=beta).step(b, fb)
    assert torch.allclose(a.log_pi, b.log_pi, atol=1e-12)
    assert s.hparams["schedule"] == "inverse-t" and s.hparams["eta"] == eta0


def test_solve_records_schedule_samples_and_refuses_bad_specs():
    g = make_matrix("cyclic", n=3)
    from nashlab.games import PreferenceGame

    game = PreferenceGame(g, np.full(3, 1 / 3), 0.1)
    r = solve(game, "egpo", eta=0.5, iters=20, every=10, feedback="sampled:4,estimator=shared", schedule="theory")
    assert r.hparams["schedule"] == "theory"
    # EGPO: 2 calls per step, 3 actions × 4 comparisons each; shared opponents: 4 samples per call
    assert r.trace["queries"] == [0, 2 * 10 * 12, 2 * 20 * 12] and r.trace["samples"] == [0, 80, 160]
    r = solve(game, "egpo", eta=0.5, iters=20, every=10, feedback="sampled:4")
    assert r.trace["samples"][-1] == 2 * 20 * 12  # i.i.d.: one sample per comparison
    with pytest.raises(ValueError, match="schedule must be one of"):
        solve(game, "egpo", iters=1, schedule="cosine")
    for bad in ("sampled:4,labels=fuzzy", "sampled:4,estimator", "sampled:4,tree=1", "sampled:0,labels=soft"):
        with pytest.raises(ValueError, match="sampled:M|labels=hard|soft"):
            parse_feedback(bad)


@pytest.mark.parametrize("spec", ["sampled:6", "sampled:6,labels=soft", "sampled:6,estimator=shared",
                                  "sampled:6,estimator=shared,labels=soft", "sampled:6,estimator=reuse",
                                  "sampled:6,estimator=reuse,labels=soft"])
def test_feedback_estimators_unbiased_along_a_moving_policy(spec):
    """Each feedback form's estimate has mean ``Pπ`` at every call, along a policy that moves between calls (the
    reuse estimator's held opponents come from the previous call's π): mean over 20,000 batched draws within 5 SE."""
    S = 20_000
    P = torch.tensor(make_matrix("egpo", n=4, seed=5))
    fb = make_feedback(spec, P.expand(S, 4, 4).contiguous(), seed=3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        pi = torch.softmax(torch.randn(4, generator=gen, dtype=torch.float64), -1)
        est = fb(pi.expand(S, 4))
        g = P @ pi
        se = est.std(0) / math.sqrt(S)
        assert torch.all((est.mean(0) - g).abs() <= 5 * se + 1e-12), (est.mean(0) - g, se)
    assert isinstance(fb, SampledFeedback) and fb.queries == 3 * 4 * 6


def test_oracle_soft_labels_and_counts():
    P = torch.tensor(make_matrix("egpo", n=4, seed=1))
    o = PreferenceOracle(P, seed=0)
    y, z = torch.tensor([0, 1, 2]), torch.tensor([3, 3, 0])
    assert torch.equal(o.compare(y, z, labels="soft"), P[y, z]) and o.queries == 3
    with pytest.raises(ValueError, match="labels must be"):
        o.compare(y, z, labels="probability")
    c = o.opponent_counts(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64).expand(50_000, 4), 10)
    assert torch.all(c.sum(-1) == 10) and torch.all(c >= 0)
    assert torch.allclose(c.mean(0), torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64), atol=0.05)


@pytest.mark.gpu
@pytest.mark.parametrize("spec", ["sampled:4,labels=soft", "sampled:4,estimator=shared", "sampled:4,estimator=reuse",
                                  "sampled:100000,labels=soft"])
def test_feedback_options_on_cuda(spec):
    """Every feedback form runs on a CUDA device (its own generator), with the CPU's query and sample counts and a
    gap of the same order (different random streams, so not equal numbers)."""
    from nashlab.games import PreferenceGame

    game = PreferenceGame(make_matrix("egpo", n=6, seed=1), np.full(6, 1 / 6), 0.1)
    cpu = solve(game, "egpo", eta=0.5, iters=200, feedback=spec, schedule="theory")
    gpu = solve(game, "egpo", eta=0.5, iters=200, feedback=spec, schedule="theory", device="cuda")
    assert (gpu.queries, gpu.samples) == (cpu.queries, cpu.samples)
    assert gpu.final["reg_duality_gap"] <= 10 * cpu.final["reg_duality_gap"] + 1e-3
