"""How faithfully one iteration of the LLM trainer carries out its rule's step, measured on the real model.

:mod:`~nashlab.llm_bridge.realisation_check` proves that the trainer's code reproduces the tabular step when sampling,
judging and the fit are exact. A real run is none of these: K sampled answers, M sampled opponents and a few optimizer
steps realise the step, and how much of the rule survives decides whether the last iterate converges. This module
measures it, at iteration ``t`` of a run, on the game's actions (the language game's exact answer distribution).

From the same ``θ_t`` (parameters, optimizer state, iteration), iteration ``t`` is repeated ``R`` times with fresh
draws (the run's seed replaced by ``seed + 1 + r``, so samples, opponents and the epoch order all change), and each
realised change of the action log-policy

    Δ_r = log π_{t+1}^{(r)} − log π_t            ([C, n]: one row per prompt)

is compared with the rule's own tabular step from the same point, at the same η_t and β,

    Δ* = log π*_{t+1} − log π_t,   π*_{t+1} = the rule's closed-form step from π_t with exact win rates P⁺π

(:func:`nashlab.solvers.rule.build_solver`, ``π_ref`` the initial model's answer distribution). Vectors are compared
in the Fisher metric of π_t, ``⟨u, v⟩ = Σ_{c,a} π_t(a|c) ū v̄`` with ``ū = u − E_{π_t}u`` per prompt, since
``½‖Δ‖² ≈ KL(π_t‖π_{t+1})``; each Δ_r splits as

    Δ_r = a_r Δ* + e_r,   a_r = ⟨Δ_r, Δ*⟩ / ⟨Δ*, Δ*⟩,   e_r ⟂ Δ*.

Reported: ``along`` = mean a_r (1 for an exact realisation; the effective step is ``along · η_t``), ``along_sd``, and
``residual`` = √(mean ‖e_r‖²) / ‖Δ*‖, the part of the move that is not the rule's, in units of the rule's step (0 for
an exact realisation). Over ``n`` iterations the drift adds up as ``n · along`` and, when the residuals are
independent, the rest as ``√n · residual``: the ratio ``along / residual`` is the per-iteration signal-to-noise ratio
that sets how many iterations the last iterate needs, and whether lowering the learning rate (both shrink with it) and
running longer narrows its noise ball.

Rules whose step reads past iterates or past win rates (a player axis, OMWU's memory) have no one-step reference from
``π_t`` alone and are refused.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import torch


def _fisher(pi: torch.Tensor):
    """``(centre, dot)`` of the Fisher metric at ``pi [C, n]``."""
    def centre(u):
        return u - (pi * u).sum(-1, keepdims=True)

    def dot(u, v):
        return float((pi * centre(u) * centre(v)).sum())

    return centre, dot


def reference_step(trainer, log_pi: torch.Tensor, log_ref: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """``Δ* [C, n]``: the rule's tabular step from ``log_pi`` at the trainer's current hyper-parameters (η_t, β), with
    the exact win rates ``P π``; raises ``ValueError`` for a rule whose step reads past iterates."""
    from nashlab.solvers import ExactFeedback
    from nashlab.solvers.rule import build_solver

    loss = trainer.loss
    hp = dict(loss.hparams)
    lag, win_lag = loss.rule.lags(hp)
    if loss.rule.multiplayer or lag or win_lag:
        raise ValueError(f"{loss.name} reads past iterates or past win rates: its step has no one-step reference "
                         "from π_t alone")
    solver = build_solver(loss.rule, hp)
    state = solver.init(log_ref, log_pi)
    return solver.step(state, ExactFeedback(torch.as_tensor(P, dtype=log_pi.dtype))).log_pi - log_pi


def _snapshot(trainer) -> dict:
    return dict(model=copy.deepcopy(trainer.unwrapped.state_dict()),
                optimizer=copy.deepcopy(trainer.optimizer.state_dict()),
                history_states=copy.deepcopy(trainer.history_states), iteration=trainer.iteration,
                history=copy.deepcopy(trainer.history), loss=trainer.loss, config=trainer.config)


def _restore(trainer, snap: dict, **config_changes) -> None:
    trainer.unwrapped.load_state_dict(snap["model"])
    trainer.optimizer.load_state_dict(copy.deepcopy(snap["optimizer"]))
    trainer.history_states = copy.deepcopy(snap["history_states"])
    trainer.iteration = snap["iteration"]
    trainer.history = copy.deepcopy(snap["history"])
    trainer.loss = snap["loss"]
    trainer.config = dataclasses.replace(snap["config"], **config_changes) if config_changes else snap["config"]


def game_actions(trainer):
    """``(log_policy, P)`` of the trainer's language game: ``log_policy(model)`` is the log of the exact answer
    distribution over the actions and "other" (``[C, n + 1]``), ``P`` the augmented matrix ``P⁺`` it is played on."""
    @torch.no_grad()
    def log_policy(model):
        pi = torch.as_tensor(trainer.game.exact_action_distribution(trainer.policy, model), dtype=torch.float64)
        return torch.log(pi.clamp_min(1e-300))

    return log_policy, torch.as_tensor(trainer.game.P_aug, dtype=torch.float64)


def realised_steps(trainer, repeats: int, *, actions=None, progress: bool = False) -> dict:
    """Repeat iteration ``trainer.iteration`` ``repeats`` times from the trainer's current state and compare each
    realised step with the rule's (module docstring); the trainer is left exactly as it was.

    ``actions`` is ``(log_policy, P)``, the action space the steps are measured in (default :func:`game_actions`);
    ``progress`` shows a tqdm bar over the repeats on stderr.

    Returns ``{"iteration", "eta", "along", "along_sd", "residual", "mean_cosine", "rule_step", "realised_steps",
    "pi"}``: ``mean_cosine`` is the Fisher cosine of the mean realised step with Δ*; ``rule_step`` and
    ``realised_steps`` are the centred vectors (``[C, n]`` lists), ``pi`` is π_t.
    """
    if not (isinstance(repeats, int) and repeats >= 2):
        raise ValueError(f"repeats must be an integer ≥ 2 (a spread needs two draws); got {repeats!r}")
    snap = _snapshot(trainer)
    try:
        log_policy, P = game_actions(trainer) if actions is None else actions
        log_pi, log_ref = log_policy(trainer.unwrapped), log_policy(trainer.ref_model)
        trainer._step_loss()  # the loss at η_t, as step() builds it
        eta = float(trainer.loss.hparams["eta"])
        target = reference_step(trainer, log_pi, log_ref, P)
        centre, dot = _fisher(log_pi.exp())
        norm2 = dot(target, target)
        if not norm2 > 0:
            raise ValueError("the rule's step from π_t is zero (π_t is its fixed point): nothing to compare with")
        moves = []
        draws = range(repeats)
        if progress:
            from tqdm.auto import tqdm

            draws = tqdm(draws, desc=f"realised steps of {trainer.loss.name}", leave=False)
        for r in draws:
            # eval_every = 0: the step's own evaluation is not needed (log_policy reads π exactly)
            _restore(trainer, snap, seed=snap["config"].seed + 1 + r, eval_every=0)
            trainer.step()
            moves.append(log_policy(trainer.unwrapped) - log_pi)
    finally:
        _restore(trainer, snap)
    along = [dot(d, target) / norm2 for d in moves]
    resid = [dot(d - a * target, d - a * target) / norm2 for d, a in zip(moves, along)]
    mean = torch.stack(moves).mean(0)
    mean_norm2 = dot(mean, mean)
    mean_a = sum(along) / repeats
    return {
        "iteration": snap["iteration"], "eta": eta,
        "along": mean_a,
        "along_sd": math.sqrt(sum((a - mean_a) ** 2 for a in along) / (repeats - 1)),
        "residual": math.sqrt(sum(resid) / repeats),
        "mean_cosine": dot(mean, target) / math.sqrt(norm2 * mean_norm2) if mean_norm2 > 0 else float("nan"),
        "rule_step": centre(target).tolist(), "realised_steps": [centre(d).tolist() for d in moves],
        "pi": log_pi.exp().tolist(),
    }


__all__ = ["game_actions", "realised_steps", "reference_step"]
