"""The shared mirror-descent core: every tabular rule here is one or two steps of the form

    ℓ' = Σ_k w_k ℓ_k + c · g        (then normalised: log π' = log_softmax(ℓ'))

with anchors ``ℓ_k`` (log-policies: the iterate, π_ref, history, opponents), weights ``w_k``, a step ``c`` and a
win-rate vector ``g = Pπ_opp``. A :class:`Solver` is a pair of pure functions ``init``/``step`` over a
:class:`SolverState` (optax style); the factory of each rule validates its hyper-parameters once and closes over them.

A step is *realised* by a ``prox`` callable ``prox(log_anchor, c, g) -> log_pi_next``. For tabular policies this is
the closed form :func:`tabular_prox`; a neural policy instead minimises the rule's loss (whose minimiser over free
logits is the closed form; see :mod:`nashlab.solvers.losses`), so the same rule code drives both.

Shapes: ``n`` actions, ``...`` batch axes (games, contexts); policies ``[..., n]``; n-player rules ``[..., N, n]``.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

import torch

from ..games.preference import validate_beta

Tensor = torch.Tensor
#: ``prox(log_anchor [..., n], c, g [..., n]) -> log π' [..., n]``: realises ``log_softmax(log_anchor + c·g)``.
Prox = Callable[[Tensor, float, Tensor], Tensor]
#: ``feedback(pi [..., n]) -> g = Pπ [..., n]`` (exact or estimated win rates against ``pi``).
Feedback = Callable[[Tensor], Tensor]


class SolverState(NamedTuple):
    """State of a solver after ``t`` steps (immutable; ``step`` returns a new one).

    Attributes:
        log_pi: ``[..., n]`` log of the last iterate π_t (``[..., N, n]`` for n-player rules).
        log_pi_sum: same shape, ``log Σ_{s=0}^{t} π_s`` (the running sum in log space: one ``logaddexp`` per step).
        t: number of steps taken.
        log_pi_ref: ``[..., n]`` log π_ref (broadcast to ``log_pi``'s batch shape).
        memory: rule-specific tensors (OMWU: ``(g_{t−1},)``; TD-MNPO: past iterates), ``()`` otherwise.
        log_pi_avg: (property) log of the average iterate ``π̄_t = (1/(t+1)) Σ_{s=0}^{t} π_s``.
    """

    log_pi: Tensor
    log_pi_sum: Tensor
    t: int
    log_pi_ref: Tensor
    memory: tuple = ()

    @property
    def log_pi_avg(self) -> Tensor:
        """``log π̄_t = log Σ_{s≤t} π_s − log(t+1)``, ``[..., n]`` (normalised)."""
        return self.log_pi_sum - math.log(self.t + 1)


class Solver(NamedTuple):
    """A validated update rule: ``state = init(log_pi_ref, log_pi0=None)``, ``state = step(state, feedback)``.

    Attributes:
        name: registry key.
        init: ``(log_pi_ref [..., n], log_pi0=None) -> SolverState``.
        step: ``(state, feedback, prox=tabular_prox) -> SolverState`` (pure).
        hparams: the resolved hyper-parameters (``eta``, ``beta``, …).
        loss: the rule's loss on log-probabilities (see :mod:`nashlab.solvers.losses`).
    """

    name: str
    init: Callable[..., SolverState]
    step: Callable[..., SolverState]
    hparams: dict
    loss: Callable[..., Tensor]


def tabular_prox(log_anchor: Tensor, c: float, g: Tensor) -> Tensor:
    """Closed-form mirror step on free tabular logits: ``log π' = log_softmax(log_anchor + c·g)`` (last axis)."""
    return torch.log_softmax(torch.add(log_anchor, g, alpha=c), dim=-1)


def combine(terms: Sequence[tuple[float, Tensor]]) -> Tensor:
    """``Σ_k w_k ℓ_k`` over ``(w_k, ℓ_k)`` pairs (terms with weight 0 are skipped; broadcast over batch axes)."""
    out = None
    for w, ell in terms:
        if w == 0.0:
            continue
        term = ell if w == 1.0 else w * ell
        out = term if out is None else out + term
    if out is None:
        raise ValueError("combine needs at least one term with a non-zero weight")
    return out


def update_sum(log_pi_sum: Tensor, log_pi_next: Tensor) -> Tensor:
    """Running sum in log space: ``log(Σ_{s≤t} π_s + π_{t+1})`` (the average is this minus ``log(t+2)``)."""
    return torch.logaddexp(log_pi_sum, log_pi_next)


def normalise(log_pi: Tensor) -> Tensor:
    """``log_softmax`` over the last axis (log-policies are kept normalised)."""
    return torch.log_softmax(log_pi, dim=-1)


def as_log_policy(x, name: str, *, like: Tensor | None = None) -> Tensor:
    """Check and convert a log-policy argument: a floating tensor ``[..., n]`` of finite entries (full support: the
    rules keep the support of π_ref, INPO's policy class), re-normalised with ``log_softmax``."""
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x, dtype=torch.float64 if like is None else like.dtype,
                            device=None if like is None else like.device)
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor; got dtype {x.dtype}")
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"{name} must have shape [..., n] with n ≥ 1; got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} must be finite log-probabilities (full support); found NaN or ±inf")
    return normalise(x)


def check_positive(value, name: str, *, upper: float | None = None, upper_text: str = "") -> float:
    """``value`` as a float after checking ``0 < value`` (finite) and, if given, ``value ≤ upper``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}") from None
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    if upper is not None and not v <= upper * (1 + 1e-12):
        raise ValueError(f"{name} must satisfy {upper_text or f'{name} ≤ {upper:g}'}; got {name}={v:g} (limit {upper:g})")
    return v


#: Most players of an n-player rule (mnpo; td-mnpo's history + 1): the state holds one log-policy per player, and
#: the papers use 3 to 5; a count such as 10**8 would only exhaust memory.
MAX_PLAYERS = 1024


def check_players(value) -> int:
    """``value`` after checking it is an integer in ``[2, MAX_PLAYERS]``."""
    if not (isinstance(value, int) and not isinstance(value, bool) and 2 <= value <= MAX_PLAYERS):
        raise ValueError(f"num_players (--num-players) must be an integer in [2, {MAX_PLAYERS}]; got {value!r}")
    return value


def check_nonnegative(value, name: str) -> float:
    """``value`` as a float after checking it is finite and ``≥ 0`` (NaN fails); the games/ check, one message."""
    return validate_beta(value, name=name)


def init_state(log_pi_ref, log_pi0=None, *, memory: tuple = (), player_axis: bool = False,
               num_players: int | None = None) -> SolverState:
    """Build the initial state: ``π_0 = π_ref`` unless ``log_pi0`` is given; ``π̄_0 = π_0``.

    Args:
        log_pi_ref: ``[..., n]`` log π_ref (any float dtype/device; kept).
        log_pi0: ``[..., n]`` (or ``[..., N, n]`` with ``player_axis``) starting log-policy; ``None`` → π_ref.
        memory: rule-specific tensors to carry.
        player_axis: n-player rules hold ``[..., N, n]``; π_ref is then broadcast over the player axis.
        num_players: ``N`` (with ``player_axis``).

    Raises:
        ValueError: bad shapes or values.
    """
    ref = as_log_policy(log_pi_ref, "log_pi_ref")
    if player_axis:
        if log_pi0 is None:
            log_pi = ref.unsqueeze(-2).expand(*ref.shape[:-1], num_players, ref.shape[-1]).clone()
        else:
            log_pi = as_log_policy(log_pi0, "log_pi0", like=ref)
            if log_pi.ndim < 2 or log_pi.shape[-2] != num_players or log_pi.shape[-1] != ref.shape[-1]:
                raise ValueError(f"log_pi0 must have shape [..., num_players={num_players}, n={ref.shape[-1]}]; "
                                 f"got {tuple(log_pi.shape)}")
        batch = torch.broadcast_shapes(ref.shape[:-1], log_pi.shape[:-2])
        log_pi = log_pi.expand(*batch, num_players, ref.shape[-1]).to(ref)
        ref = ref.expand(*batch, ref.shape[-1])
    else:
        if log_pi0 is None:
            log_pi = ref
        else:
            log_pi = as_log_policy(log_pi0, "log_pi0", like=ref).to(ref)
            if log_pi.shape[-1] != ref.shape[-1]:
                raise ValueError(f"log_pi0 has {log_pi.shape[-1]} actions but log_pi_ref has {ref.shape[-1]}")
        try:
            batch = torch.broadcast_shapes(ref.shape[:-1], log_pi.shape[:-1])
        except RuntimeError:
            raise ValueError(f"log_pi0 batch shape {tuple(log_pi.shape[:-1])} does not broadcast with log_pi_ref's "
                             f"{tuple(ref.shape[:-1])}") from None
        n = ref.shape[-1]
        log_pi = log_pi.expand(*batch, n)
        ref = ref.expand(*batch, n)
    return SolverState(log_pi=log_pi, log_pi_sum=log_pi, t=0, log_pi_ref=ref, memory=memory)


def advance(state: SolverState, log_pi_next: Tensor, memory: tuple | None = None) -> SolverState:
    """New state after one step: last iterate, running average, ``t + 1``; memory replaced if given."""
    return SolverState(
        log_pi=log_pi_next,
        log_pi_sum=update_sum(state.log_pi_sum, log_pi_next),
        t=state.t + 1,
        log_pi_ref=state.log_pi_ref,
        memory=state.memory if memory is None else memory,
    )


def mirror_loss(log_pi_theta_y: Tensor, log_pi_theta_yp: Tensor, log_anchor_y: Tensor, log_anchor_yp: Tensor,
                target: Tensor, c: float, *, reduction: str = "mean") -> Tensor:
    """The pairwise squared loss every rule here reduces to (online IPO, generalised to any anchor):

        L(θ) = E_{(y, y')} [ ( log π_θ(y) − log π_θ(y') − (a(y) − a(y')) − c · target(y, y') )² ]

    with ``a = Σ_k w_k ℓ_k`` the rule's anchor combination and ``target`` an unbiased estimate of the win-rate
    difference ``g(y) − g(y')``, ``g = Pπ_opp``. Normalising constants cancel in the differences, so ``a`` need not be
    normalised. Over free tabular logits, with pairs drawn from any full-support distribution, the unique minimiser
    (up to a constant) is ``log π_θ = a + c·g``: exactly the closed form ``ℓ' = Σ_k w_k ℓ_k + c·g``.

    Args:
        log_pi_theta_y, log_pi_theta_yp: ``[B]`` log π_θ of the two responses (differentiable).
        log_anchor_y, log_anchor_yp: ``[B]`` the anchor ``a`` at ``y`` and ``y'`` (no gradient needed).
        target: ``[B]`` estimate of ``g(y) − g(y')``.
        c: the step multiplying the win rate.
        reduction: ``"mean"`` (scalar) or ``"none"`` (``[B]``).

    Returns:
        scalar (or ``[B]``), ≥ 0.
    """
    r = (log_pi_theta_y - log_pi_theta_yp) - (log_anchor_y - log_anchor_yp) - c * target
    sq = r * r
    if reduction == "mean":
        return sq.mean()
    if reduction == "none":
        return sq
    raise ValueError(f"reduction must be 'mean' or 'none'; got {reduction!r}")
