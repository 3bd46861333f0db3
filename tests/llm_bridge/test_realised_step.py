"""``nashlab llm realised-step`` (:mod:`nashlab.llm_bridge.realised_step`): the measurement reads 1 and 0 where the
step is realised exactly, reads less where the fit stops short, leaves the trainer as it was, and refuses what it
cannot measure in one line."""

import json
import os

import pytest
import torch

from nashlab.experiments.cli import main
from nashlab.llm_bridge.realisation_check import free_logit_trainer
from nashlab.llm_bridge.realised_step import realised_steps

from helpers import state, tiny_run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "experiments", "configs", "llm_tiny.toml")


def _free_logit(rule, hp, **kw):
    trainer, log_pi, P = free_logit_trainer(rule, hp, **kw)
    return trainer, (lambda model: log_pi(model).double()[None], P.double())


@pytest.mark.parametrize("rule,hp", [("inpo", {"eta": 0.5, "beta": 0.1}), ("egpo", {"eta": 0.5, "beta": 0.1}),
                                     ("sppo", {"eta": 0.5, "beta": 0.0})])
def test_an_exact_realisation_reads_along_one_and_no_residual(rule, hp):
    """With exact expectations and a fit run to convergence (the free-logit model of ``nashlab verify``'s
    llm-realisation check), the trainer's iteration is the rule's tabular step (an independent closed form), so the
    measurement must read ``along = 1`` and ``residual = 0``, for a one-phase, a two-phase and a Hedge rule."""
    trainer, actions = _free_logit(rule, hp)
    trainer.step()  # measure from π_1, away from the uniform start
    m = realised_steps(trainer, 2, actions=actions)
    assert m["iteration"] == 1 and m["eta"] == hp["eta"]
    assert m["along"] == pytest.approx(1.0, abs=1e-4)
    assert m["residual"] < 1e-4 and m["along_sd"] < 1e-9  # no draws: every repeat is the same step
    assert m["mean_cosine"] == pytest.approx(1.0, abs=1e-8)


def test_a_fit_that_stops_short_reads_less_than_one():
    """Three SGD epochs at a small learning rate move θ a fraction of the way to the step: ``along`` is well below 1
    (same direction, so the residual stays small)."""
    trainer, actions = _free_logit("inpo", {"eta": 0.5, "beta": 0.1}, epochs=3, lr=0.05)
    trainer.step()
    m = realised_steps(trainer, 2, actions=actions)
    assert 0.05 < m["along"] < 0.5, m
    assert m["residual"] < 0.5 * m["along"], m


def test_the_trainer_is_left_as_it_was():
    """After the measurement the run goes on exactly as an untouched one: same parameters, and the same next
    iteration (its draws, optimizer state and history restored)."""
    a, b = tiny_run("inpo", iterations=4), tiny_run("inpo", iterations=4)
    for tr in (a, b):
        tr.history.append(tr._initial_row())
        tr.step()
    m = realised_steps(a, 2)
    assert m["iteration"] == 1 and len(m["realised_steps"]) == 2
    assert torch.as_tensor(m["rule_step"]).shape == torch.as_tensor(m["pi"]).shape == (4, 4)  # 4 prompts, 3 + other
    assert a.iteration == 1 and len(a.history) == len(b.history)
    for k, v in state(b).items():
        torch.testing.assert_close(state(a)[k], v, atol=0, rtol=0)
    ma, mb = a.step(), b.step()
    assert ma["judge_queries"] == mb["judge_queries"]
    for k, v in state(b).items():
        torch.testing.assert_close(state(a)[k], v, atol=0, rtol=0)


def test_cli_json(capsys):
    assert main(["llm", "realised-step", "--config", TINY, "--solver", "inpo", "--at", "1", "--repeats", "2",
                 "--json", "--quiet"]) == 0
    d = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert d["solver"] == "inpo" and d["iteration"] == 1 and d["repeats"] == 2
    assert all(isinstance(d[k], float) for k in ("along", "along_sd", "residual", "mean_cosine", "eta"))
    assert d["along"] > 0 and d["residual"] >= 0


@pytest.mark.parametrize("extra,match", [
    (["--solver", "mnpo"], "mnpo reads past iterates"),
    (["--solver", "omwu"], "omwu reads past iterates"),
    (["--solver", "inpo", "--repeats", "1"], "--repeats must be ≥ 2"),
    (["--solver", "inpo", "--at", "-1"], "--at must be ≥ 0"),
    (["--solver", "inpo", "--at", "30"], "--at must be below the run's iterations (30)"),
])
def test_errors_are_one_line(capsys, extra, match):
    assert main(["llm", "realised-step", "--config", TINY, "--quiet"] + extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0], err
