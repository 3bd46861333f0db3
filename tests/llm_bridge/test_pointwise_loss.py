"""``loss_form = "pointwise"``: each rule's loss against a virtual partner pins absolute log-probs to the rule's step.

Checks: (1) the premise — every bridged rule's anchor weights sum to one, so a partner whose log-prob and anchors all
equal ``v`` leaves the residual unchanged; (2) ``step_log_ratio`` equals each rule's closed form
``s = a + c·g − log π_t``; (3) through the trainer, a one-token model with free logits fitted with the pointwise
loss reproduces the solver's tabular step (1e-6), as the pairwise loss does in ``test_loss_equals_step.py``.
"""

import pytest
import torch

from nashlab.llm_bridge.losses import make_sequence_loss
from nashlab.llm_bridge.realisation_check import free_logit_trainer
from nashlab.llm_bridge.trainer import TrainConfig
from nashlab.solvers import RULES, exact_feedback, load_rule, make_solver

HP = {"mmd": {"eta": 0.8, "beta": 0.2}, "omwu": {"eta": 0.1}}


def _inputs(loss, K=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    anchors = {}
    for k in loss.anchors:
        shape = (K, 2) if k == "hist" else (K,)
        anchors[k] = -3 * torch.rand(shape, generator=g, dtype=torch.float64)
    anchors.setdefault("t", -3 * torch.rand(K, generator=g, dtype=torch.float64))
    return anchors, torch.rand(K, generator=g, dtype=torch.float64), -3 * torch.rand(K, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("name", sorted(RULES))
def test_anchor_weights_sum_to_one(name):
    """``loss(y, y')`` with ``log π_θ(y') = v`` and every anchor at ``y'`` equal to ``v`` does not depend on ``v``."""
    loss = make_sequence_loss(name, **HP.get(name, {"eta": 0.7, "beta": 0.2}))
    anchors, g, lp = _inputs(loss)
    out = []
    for v in (0.0, -1.3, 2.5):
        yp = {k: torch.full_like(a, v) for k, a in anchors.items()}
        out.append(loss(lp, torch.full_like(lp, v), anchors, yp, g, reduction="none"))
    torch.testing.assert_close(out[1], out[0], atol=1e-12, rtol=0)
    torch.testing.assert_close(out[2], out[0], atol=1e-12, rtol=0)


@pytest.mark.parametrize("name,closed_form", [
    ("inpo", lambda a, g, eta, beta: eta * beta * (a["ref"] - a["t"]) + eta * g),
    ("sppo", lambda a, g, eta, beta: eta * g),
    ("mnpo", lambda a, g, eta, beta: a["hist"].mean(-1) + eta * g - a["t"]),
])
def test_step_log_ratio_is_the_closed_form(name, closed_form):
    eta, beta = 0.7, 0.2
    loss = make_sequence_loss(name, eta=eta, beta=beta)
    anchors, g, _ = _inputs(loss)
    if name == "mnpo":
        anchors["t"] = anchors["hist"][:, 0]  # the first history column is π_t
    torch.testing.assert_close(loss.step_log_ratio(anchors, g), closed_form(anchors, g, eta, beta), atol=1e-12, rtol=0)
    # the pointwise residual vanishes at log π_θ = log π_t + s − log Z, for any log Z
    s = loss.step_log_ratio(anchors, g)
    torch.testing.assert_close(loss.pointwise(anchors["t"] + s - 0.4, anchors, g, 0.4), torch.zeros_like(g),
                               atol=1e-12, rtol=0)


@pytest.mark.parametrize("solver,eta,beta,opts", [
    ("inpo", 0.8, 0.1, {}), ("sppo", 0.8, 0.0, {}), ("egpo", 0.8, 0.1, {}), ("nash-mp", 1.5, 0.1, {}),
])
def test_pointwise_trainer_step_equals_solver_step(solver, eta, beta, opts):
    rule = load_rule(solver)
    trainer, log_pi, Pt = free_logit_trainer(rule, rule.hparams(eta=eta, beta=beta, **opts))
    trainer.config = TrainConfig(**{**trainer.config.__dict__, "loss_form": "pointwise", "epochs": 600})
    # every action once (exact expectations): Ẑ weights are π_t over the actions, renormalised
    trainer._partition_weights = lambda r: torch.softmax(r.anchors["t"].double(), 0)
    rule = make_solver(solver, eta=eta, beta=beta, **opts)
    state = rule.init(log_pi(trainer.unwrapped))
    fb = exact_feedback(Pt)
    for _ in range(2):
        trainer.step()
        state = rule.step(state, fb)
        torch.testing.assert_close(log_pi(trainer.unwrapped), state.log_pi, atol=1e-6, rtol=0)


def test_pointwise_refuses_off_policy_pairs():
    with pytest.raises(ValueError, match="pointwise"):
        TrainConfig(loss_form="pointwise", pair_temperature=2.0)
    with pytest.raises(ValueError, match="loss_form"):
        TrainConfig(loss_form="listwise")
