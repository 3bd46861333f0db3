"""Loss ≡ step through the trainer: a one-token LM whose logits are free parameters, trained to convergence by
:class:`OnlineTrainer` (its own anchors, pairs, phases, restore-and-step and histories), reproduces the solver's
closed-form tabular step from ``nashlab.solvers`` (1e-6 on the normalised log-policy over actions).

Sampling and judging are replaced by their exact expectations (every action once per prompt; win rates
``g = Pπ_opp`` of the rule's opponent), so the only approximation left is the optimiser's convergence.
"""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from nashlab.games import make_matrix
from nashlab.llm_bridge.judges import KnownNashJudge
from nashlab.llm_bridge.language_game import LanguageGame
from nashlab.llm_bridge.policy import SequencePolicy
from nashlab.llm_bridge.tokenizer import word_tokenizer
from nashlab.llm_bridge.trainer import OnlineTrainer, TrainConfig
from nashlab.solvers import exact_feedback, make_solver

N_ACT = 4
ACTIONS = ["rock", "paper", "scissors", "lizard"]


class FreeLogitLM(torch.nn.Module):
    """``logits[b, t] = θ`` for every position: the next-token distribution is ``softmax(θ)`` whatever the input."""

    def __init__(self, vocab: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.theta = torch.nn.Parameter(torch.randn(vocab, generator=g, dtype=torch.float64))

    def forward(self, input_ids, attention_mask=None, position_ids=None, use_cache=False, logits_to_keep=0, **kw):
        T = input_ids.shape[1] if not logits_to_keep else logits_to_keep
        return SimpleNamespace(logits=self.theta.expand(input_ids.shape[0], T, -1))

    def get_output_embeddings(self):
        return SimpleNamespace(weight=self.theta[:, None])


def _setup(solver, eta, beta, **opts):
    P = make_matrix("egpo", n=N_ACT, seed=3)
    game = LanguageGame(["play"], [[a] for a in ACTIONS], P, beta=beta)
    tok = word_tokenizer(ACTIONS + ["play"])
    model = FreeLogitLM(len(tok))
    policy = SequencePolicy(model, tok)
    cfg = TrainConfig(solver=solver, eta=eta, beta=beta, solver_options=opts, iterations=3, samples_per_prompt=N_ACT,
                      epochs=300, prompts_per_step=1, optimizer="sgd", lr=0.5, max_grad_norm=0.0, bf16="no")
    trainer = OnlineTrainer(policy, KnownNashJudge(game), game, cfg)
    ids = torch.tensor([tok.convert_tokens_to_ids(a) for a in ACTIONS])
    Pt = torch.as_tensor(P)

    def log_pi(model_):  # normalised log-policy over the actions
        return torch.log_softmax(model_.theta.detach()[ids], -1)

    # Exact expectations instead of samples and judge draws.
    trainer._sample = lambda model_, contexts, num, phase, mixture_with=None, **kw: [[[int(i)] for i in ids] for _ in contexts]

    def win_rates(rollouts, opponent, phase):
        return [win_rate(opponent) for _ in rollouts]

    def win_rate(opponent):
        lt = log_pi(trainer.unwrapped)
        if opponent == "t" or opponent == "half":  # π_t before the fit; π_½ (the current θ) after the half step
            pi = lt.exp()
        elif opponent == "mixture":
            a = trainer.hparams["eta"] * trainer.hparams["beta"]
            pi = torch.softmax((1 - a) * lt + a * log_pi(trainer.ref_model), -1)
        elif opponent == "players":
            pis = [lt.exp()] + [log_pi(trainer._scratch_model(st)).exp() for st in trainer.history_states]
            return torch.stack([Pt @ p for p in pis]).mean(0)
        return Pt @ pi

    trainer._win_rates = win_rates
    return trainer, log_pi, Pt


@pytest.mark.parametrize("solver,eta,beta,opts", [
    ("inpo", 0.8, 0.1, {}), ("sppo", 0.8, 0.0, {}), ("egpo", 0.8, 0.1, {}), ("nash-mp", 1.5, 0.1, {}),
    ("nash-md", 0.8, 0.1, {}), ("td-mnpo", 0.8, 0.1, {"num_players": 3}),
])
def test_trainer_step_equals_solver_step(solver, eta, beta, opts):
    trainer, log_pi, Pt = _setup(solver, eta, beta, **opts)
    rule = make_solver(solver, eta=eta, beta=beta, **opts)
    state = rule.init(log_pi(trainer.unwrapped))  # π_0 = π_ref
    fb = exact_feedback(Pt)
    for _ in range(3):  # three steps: the second and third exercise π_ref ≠ π_t and the history
        trainer.step()
        state = rule.step(state, fb)
        torch.testing.assert_close(log_pi(trainer.unwrapped), state.log_pi, atol=1e-6, rtol=0)


def test_mnpo_step_with_history_opponents():
    """mnpo: the opponents of the trained player are π_t, π_{t−1}; the solver's N-player step for a player whose
    opponents hold those iterates is the reference."""
    eta = 0.8
    trainer, log_pi, Pt = _setup("mnpo", eta, 0.0, num_players=3)
    rule = make_solver("mnpo", eta=eta, beta=0.0, num_players=3)
    lps = [log_pi(trainer.unwrapped)]
    for _ in range(3):
        trainer.step()
        lps.append(log_pi(trainer.unwrapped))
    for t in range(1, 3):  # step t: opponents π_t, π_{t−1} (π_{−1} = π_0)
        prev = lps[max(t - 1, 0)]
        state = rule.init(lps[0], log_pi0=torch.stack([lps[t], lps[t], prev]))
        want = rule.step(state, exact_feedback(Pt)).log_pi[0]
        torch.testing.assert_close(lps[t + 1], want, atol=1e-6, rtol=0)


def test_extragradient_restores_optimizer_state():
    """Before EGPO's full phase, AdamW's state (moments, step counts) equals its state before the half phase: the
    half phase's optimizer updates were undone along with the parameters (restore-and-step)."""
    trainer, log_pi, _ = _setup("egpo", 0.8, 0.1)
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
