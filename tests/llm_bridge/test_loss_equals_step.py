"""Loss ≡ step through the trainer, for every registered rule and the README's own rule: a one-token LM whose logits
are free parameters, trained to convergence by :class:`OnlineTrainer` (its own anchors, pairs, phases,
restore-and-step and histories), reproduces the rule's derived tabular step (``nashlab verify``'s
``llm-realisation`` check, :mod:`nashlab.llm_bridge.realisation_check`: 1e-5; measured ≤ 5e-7).

Sampling and judging are replaced by their exact expectations (every action once per prompt; win rates
``g = Pπ_opp`` of each declared opponent), so the only approximation left is the optimiser's convergence.
"""

import os

import pytest
import torch

from nashlab.llm_bridge.realisation_check import free_logit_trainer, realisation_error
from nashlab.llm_bridge.trainer import TrainConfig
from nashlab.solvers import RULES, load_rule

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "experiments", "examples", "rules",
                       "optimistic_inpo.py") + ":OPTIMISTIC_INPO"


def hparams(name):
    rule = load_rule(name)
    eta = {"nash-mp": 1.5, "mmd": 0.4, "omwu": 0.125, "optimistic-inpo": 0.125}.get(rule.name, 0.8)
    return rule, rule.hparams(eta=eta, beta=0.1 if rule.beta_used else 0.0)


@pytest.mark.parametrize("name", sorted(RULES) + [EXAMPLE], ids=lambda n: n.rsplit(":", 1)[-1])
def test_trainer_step_equals_rule_step(name):
    rule, hp = hparams(name)
    err, detail = realisation_error(rule, hp)
    assert err <= 1e-5, (err, detail)


def test_extragradient_restores_optimizer_state():
    """Before EGPO's full phase, AdamW's state (moments, step counts) equals its state before the half phase: the
    half phase's optimizer updates were undone along with the parameters (restore-and-step)."""
    rule, hp = hparams("egpo")
    trainer, log_pi, _ = free_logit_trainer(rule, hp)
    opt = torch.optim.AdamW(trainer.unwrapped.parameters(), lr=0.01)
    trainer.optimizer = opt
    trainer.config = TrainConfig(**{**trainer.config.__dict__, "epochs": 3})
    snaps = []
    fit = trainer._fit

    def spy(rollouts, order, phase):
        st = opt.state_dict()["state"].get(0, {})
        snaps.append((phase, {k: v.clone() for k, v in st.items()}, trainer.unwrapped.theta.detach().clone()))
        return fit(rollouts, order, phase)

    trainer._fit = spy
    trainer.step()
    trainer.step()
    assert [p for p, _, _ in snaps] == [0, 1, 0, 1]
    (_, half_state, half_theta), (_, full_state, full_theta) = snaps[2], snaps[3]
    assert set(half_state) == {"step", "exp_avg", "exp_avg_sq"} and float(half_state["step"]) == 3
    for k in half_state:
        torch.testing.assert_close(full_state[k], half_state[k], atol=0, rtol=0)
    torch.testing.assert_close(full_theta, half_theta, atol=0, rtol=0)
