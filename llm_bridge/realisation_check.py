"""``nashlab verify``'s ``llm-realisation`` check: a rule run through the LLM trainer's own code reproduces its
tabular step.

A one-token "language model" whose next-token logits are free parameters θ (the same for every input) is trained by
:class:`~nashlab.llm_bridge.trainer.OnlineTrainer` — its anchors, pairs, phases, restore-and-step, histories and
fitting loop — on a 4-action language game, with sampling and judging replaced by their exact expectations (every
action once per prompt; the win rates ``g = Pπ_opp`` of each declared opponent, combined with the declared weights).
The only approximation left is the optimiser's convergence, so after each of three iterations the normalised
log-policy over the actions must equal the rule's derived tabular step (``build_solver``) from the same point.
A rule with a player axis is realised with past iterates as the other players; its reference is then the tabular step
of a player whose opponents hold ``π_t, π_{t−1}, …``.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

ACTIONS = ["rock", "paper", "scissors", "lizard"]
ITERATIONS = 3


class FreeLogitLM(torch.nn.Module):
    """``logits[b, t] = θ`` at every position: the next-token distribution is ``softmax(θ)`` whatever the input."""

    def __init__(self, vocab: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.theta = torch.nn.Parameter(torch.randn(vocab, generator=g, dtype=torch.float64))

    def forward(self, input_ids, attention_mask=None, position_ids=None, use_cache=False, logits_to_keep=0, **kw):
        T = input_ids.shape[1] if not logits_to_keep else logits_to_keep
        return SimpleNamespace(logits=self.theta.expand(input_ids.shape[0], T, -1))

    def get_output_embeddings(self):
        return SimpleNamespace(weight=self.theta[:, None])


def free_logit_trainer(rule, hp: dict, *, epochs: int = 300, lr: float = 0.5, seed: int = 0):
    """``(trainer, log_pi(model), P)``: the trainer of ``rule`` at ``hp`` on a free-logit one-token model, with exact
    expectations in place of sampling and judging."""
    from nashlab.games import make_matrix

    from .judges import KnownNashJudge
    from .language_game import LanguageGame
    from .policy import SequencePolicy
    from .rollout import mixture_weight, opponent_kind
    from .tokenizer import word_tokenizer
    from .trainer import OnlineTrainer, TrainConfig

    P = make_matrix("egpo", n=len(ACTIONS), seed=3)
    game = LanguageGame(["play"], [[a] for a in ACTIONS], P, beta=float(hp["beta"]))
    tok = word_tokenizer(ACTIONS + ["play"])
    policy = SequencePolicy(FreeLogitLM(len(tok), seed=seed), tok)
    options = {k: v for k, v in hp.items() if k not in ("eta", "beta")}
    cfg = TrainConfig(solver=rule, eta=hp["eta"], beta=hp["beta"], solver_options=options, iterations=ITERATIONS,
                      samples_per_prompt=len(ACTIONS), epochs=epochs, prompts_per_step=1, optimizer="sgd", lr=lr,
                      max_grad_norm=0.0, bf16="no")
    trainer = OnlineTrainer(policy, KnownNashJudge(game), game, cfg)
    ids = torch.tensor([tok.convert_tokens_to_ids(a) for a in ACTIONS])
    Pt = torch.as_tensor(P)

    def log_pi(model):
        return torch.log_softmax(model.theta.detach()[ids], -1)

    trainer._sample = lambda model, contexts, num, phase, mixture_with=None, **kw: [[[int(i)] for i in ids]
                                                                                     for _ in contexts]

    def win_rates(rollouts, opponent, phase):
        kind, lag = opponent_kind(opponent)
        if kind in ("t", "half"):  # π_t before the fit; π_½ (the current θ) after a phase
            pi = log_pi(trainer.unwrapped).exp()
        elif kind == "mixture":
            a = mixture_weight(trainer.loss, phase)
            pi = torch.softmax((1 - a) * log_pi(trainer.unwrapped) + a * log_pi(trainer.ref_model), -1)
        else:
            pi = log_pi(trainer._scratch_model(trainer.history_states[lag - 1])).exp()
        return [Pt @ pi for _ in rollouts]

    trainer._win_rates = win_rates
    return trainer, log_pi, Pt


def realisation_error(rule, hp: dict) -> tuple[float, str]:
    """``(max |log π| difference, detail)`` between three trainer iterations and the tabular steps from the same
    points (:mod:`module docstring <nashlab.llm_bridge.realisation_check>`)."""
    from nashlab.solvers import ExactFeedback, load_rule
    from nashlab.solvers.rule import build_solver

    rule = load_rule(rule)
    hp = dict(hp)
    trainer, log_pi, Pt = free_logit_trainer(rule, hp)
    solver = build_solver(rule, hp)
    ref = log_pi(trainer.ref_model)
    iterates = [log_pi(trainer.unwrapped)]
    worst = 0.0
    if rule.multiplayer:
        N = int(hp[rule.players])
        for t in range(ITERATIONS):
            trainer.step()
            iterates.append(log_pi(trainer.unwrapped))
            others = [iterates[max(t - j, 0)] for j in range(N - 1)]
            state = solver.init(ref, torch.stack([iterates[t]] + others))
            want = solver.step(state, ExactFeedback(Pt)).log_pi[0]
            worst = max(worst, float((iterates[-1] - want).abs().max()))
    else:
        state = solver.init(ref, iterates[0])
        fb = ExactFeedback(Pt)
        for _ in range(ITERATIONS):
            trainer.step()
            state = solver.step(state, fb)
            worst = max(worst, float((log_pi(trainer.unwrapped) - state.log_pi).abs().max()))
    return worst, (f"max |log π| difference over {ITERATIONS} iterations between the LLM trainer on a free-logit "
                   f"one-token model (exact expectations, {len(ACTIONS)} actions) and the tabular step")


__all__ = ["FreeLogitLM", "free_logit_trainer", "realisation_error"]
