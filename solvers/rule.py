"""Declaring an update rule once, as data, and deriving everything else from the declaration.

Every rule in nashlab (the library's ten and any a user writes) is one :class:`Rule`: one or two mirror steps

    ℓ' = Σ_k w_k ℓ_k + c · g,        g = Σ_m v_m · P π_{o_m}        (then log π' = log_softmax(ℓ'))

with *anchors* ``ℓ_k`` (log-policies) weighted by ``w_k``, a *step* ``c`` and *opponents* ``π_{o_m}`` whose win-rate
vectors ``Pπ_o`` are combined with weights ``v_m``. Each weight is a function of the resolved hyper-parameters
(``eta``, ``beta`` and the rule's options). The sources an anchor or opponent may name are :data:`SOURCES`:

* ``"iterate"`` — π_t, the last iterate;
* ``"ref"`` — π_ref (anchors only);
* ``"past:j"`` — π_{t−j}, j ≥ 1 (iterates before the start are π_0; so are their win rates);
* ``"half"`` — the output of the previous phase, π_½ (opponents of a second phase only: extragradient);
* ``"mixture"`` — the geometric mixture ``∝ exp(Σ_k w_k ℓ_k)`` of the phase's own anchors (Nash-MD's opponent);
* ``"others"`` — for a rule with a player axis, the mean over the other players (``ℓ_i ↦ mean_{j≠i} ℓ_j``).

Every phase anchors at the same point (the prox centre: both extragradient half steps start from π_t), and the last
phase's output is the next iterate. From this alone the library derives:

* the batched closed-form tabular step (:func:`build_solver`), with the past iterates and past win rates it needs
  kept in a typed state (:class:`RuleState`); past win rates are those measured when the past iterate was the
  iterate, so a rule like OMWU costs one query per step;
* the loss on log-probabilities (:class:`RuleLoss`): for pairs ``(y, y')`` with an estimate ``target`` of
  ``g(y) − g(y')``, ``E[(Δlog π_θ − Δa − c·target)²]`` with ``a = Σ_k w_k ℓ_k`` (:func:`~.core.mirror_loss`), and
  the pointwise form ``(log π_θ(y) − a(y) − c·g(y) + log Z)²``. The minimiser over free logits of either is the
  closed-form step (both fix ``log π' − a − c·g`` to a constant);
* the LLM trainer's phases, opponents and history (``llm_bridge``), the conformance limits and the claim checked by
  ``nashlab verify`` (:mod:`.verify`), the theory line of the rates figure and the row of ``nashlab solvers``.

A user declares a rule in their own file and names it ``path/to/rule.py:NAME`` (or installs it under the
entry-point group ``nashlab.rules``); see :func:`nashlab.solvers.registry.load_rule` and ``docs/rules.md``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple, Sequence

import torch

from .core import MAX_PLAYERS, Solver, Tensor, check_nonnegative, check_players, check_positive, combine
from .core import tabular_prox, update_sum

#: The sources an anchor or an opponent may name (``"past:j"`` with an integer j ≥ 1).
SOURCES = ("iterate", "ref", "past:j", "half", "mixture", "others")
ANCHOR_SOURCES = ("iterate", "ref", "past", "others")
OPPONENT_SOURCES = ("iterate", "past", "half", "mixture", "others")
#: The kinds of claim a rule may declare (:class:`Claim`).
CLAIM_KINDS = ("linear", "average", "floor", "multiplayer-average")

HParams = Mapping[str, object]
Weight = Callable[[HParams], float]


def _const(x: float) -> Weight:
    return lambda hp: x


def _past_index(source: str) -> int | None:
    m = re.fullmatch(r"past:(\d+)", source)
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class Term:
    """One weighted term: an anchor ``w·ℓ_source`` or an opponent ``v·Pπ_source``.

    Attributes:
        source: one of :data:`SOURCES` (``"past:2"`` is π_{t−2}).
        weight: ``hparams -> float`` (a number is accepted and wrapped).
    """

    source: str
    weight: Weight | float = 1.0

    def __post_init__(self):
        if not callable(self.weight):
            object.__setattr__(self, "weight", _const(float(self.weight)))

    @property
    def kind(self) -> str:
        """The source without its index (``"past:2"`` → ``"past"``)."""
        return "past" if _past_index(self.source) is not None else self.source

    @property
    def lag(self) -> int:
        """j for ``past:j``, 0 otherwise."""
        return _past_index(self.source) or 0


def anchor(source: str, weight: Weight | float = 1.0) -> Term:
    """An anchor term ``weight · ℓ_source``."""
    return Term(source, weight)


def opponent(source: str, weight: Weight | float = 1.0) -> Term:
    """An opponent term ``weight · Pπ_source``."""
    return Term(source, weight)


@dataclass(frozen=True)
class Phase:
    """One mirror step ``ℓ_out = Σ_k w_k ℓ_k + c · Σ_m v_m Pπ_{o_m}``.

    Attributes:
        anchors: the ``(source, w_k)`` terms (their weights should sum to 1 so that the pointwise loss's virtual
            partner has anchor ``log Z``; checked by ``nashlab verify``), or ``hparams -> terms`` when the terms
            depend on an option (TD-MNPO's history length).
        step: ``c`` as ``hparams -> float``.
        opponents: the ``(source, v_m)`` terms of the win rate ``g`` (or ``hparams -> terms``).
    """

    anchors: tuple[Term, ...] | Callable[[HParams], Sequence[Term]]
    step: Weight | float
    opponents: tuple[Term, ...] | Callable[[HParams], Sequence[Term]]

    def __post_init__(self):
        for name in ("anchors", "opponents"):
            if not callable(getattr(self, name)):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if not callable(self.step):
            object.__setattr__(self, "step", _const(float(self.step)))

    def resolved(self, hp: HParams) -> tuple[tuple[tuple[Term, float], ...], float, tuple[tuple[Term, float], ...]]:
        """``(anchors, c, opponents)`` at ``hp``: ``((term, w), …), c, ((term, v), …)``; zero weights dropped."""
        def terms(x):
            ts = tuple(x(hp)) if callable(x) else x
            out = []
            for t in ts:
                if not isinstance(t, Term):
                    raise ValueError(f"a phase's terms must be anchor(...)/opponent(...) terms; got {t!r}")
                w = float(t.weight(hp))
                if not math.isfinite(w):
                    raise ValueError(f"the weight of {t.source!r} is {w} at {dict(hp)}")
                if w != 0.0:
                    out.append((t, w))
            return tuple(out)

        c = float(self.step(hp))
        if not math.isfinite(c):
            raise ValueError(f"the step c is {c} at {dict(hp)}")
        return terms(self.anchors), c, terms(self.opponents)


@dataclass(frozen=True)
class Claim:
    """What a rule promises, as data, checked by ``nashlab verify`` on a seeded suite of games.

    Attributes:
        kind: ``"linear"`` — ``KL(π*_β‖π_t) ≤ constant · KL(π*_β‖π_0) · rate(hp)^t`` (last iterate);
            ``"average"`` — ``DG_β(π̄_T) ≤ bound(hp, D, T)`` for the average iterate ``π̄_T = (1/(T+1)) Σ_{t≤T} π_t``
            (O(1/√T) with η ∝ 1/√T), ``D = max_y log 1/π_0(y)`` (``ln n`` from the uniform start);
            ``"floor"`` — the last iterate settles at a point other than π*_β (a bias that shrinks with η);
            ``"multiplayer-average"`` — the multiplayer duality gap of the average profile ``≤ bound(hp, n, T)``.
        rate: ``hp -> q`` for ``linear``.
        constant: ``C`` for ``linear`` (a multiple of ``KL(π*_β‖π_0)``).
        bound: ``(hp, D, T) -> float`` for the average kinds.
        text: the claim in words, with its source (paper, theorem, or "derived").
    """

    kind: str
    text: str
    rate: Callable[[HParams], float] | None = None
    constant: float = 1.0
    bound: Callable[[HParams, float, int], float] | None = None

    def __post_init__(self):
        if self.kind not in CLAIM_KINDS:
            raise ValueError(f"claim kind must be one of {', '.join(CLAIM_KINDS)}; got {self.kind!r}")
        if self.kind == "linear" and self.rate is None:
            raise ValueError("a linear claim needs rate(hp) -> q")
        if self.kind in ("average", "multiplayer-average") and self.bound is None:
            raise ValueError(f"an {self.kind} claim needs bound(hp, D, T)")


@dataclass(frozen=True)
class Option:
    """A rule-specific hyper-parameter (besides η and β).

    Attributes:
        name: its key in ``hparams`` and the CLI/TOML option name.
        default: the value when not given.
        check: ``(value, hp_so_far) -> value`` raising ValueError naming the problem.
    """

    name: str
    default: object
    check: Callable[[object, dict], object] = lambda v, hp: v


@dataclass(frozen=True)
class Rule:
    """A declared update rule (see the module docstring for the form).

    Attributes:
        name: registry key (``nashlab solve --solver NAME``).
        update: the update in one line, in the notation above (``ℓ' = (1−ηβ)ℓ + ηβ ℓ_ref + η Pπ``).
        fixed_point: what the last iterate is meant to reach, in words (``π*_β``, ``none (cycles)``, …).
        paper: citation (authors, arXiv id).
        phases: one (mirror descent) or two (extragradient / mirror prox: phase 1's output is ``"half"``).
        claim: :class:`Claim`.
        eta_default, beta_default: defaults of η and β.
        beta_positive: β must be > 0 (else ≥ 0).
        beta_used: whether β enters the update (else it is recorded for the metrics only).
        eta_max: ``hp -> η limit`` (the step-size condition ``η ≤ eta_max``; ``None``: any η > 0).
        eta_max_text: the condition in words, for the refusal message.
        options: rule-specific :class:`Option` s.
        players: name of the option holding the number of players of a rule with a player axis (``[..., N, n]``
            policies; ``"others"`` sources), else ``None``.
        noise_schedule: the step-size schedule its theory prescribes under noisy feedback (:mod:`.schedules`):
            ``"strongly-monotone"`` (``η_t ≈ 2/(βt)``) or ``"inverse-sqrt-t"`` (Hedge-type rules).
        resolve: optional ``(eta, beta, options) -> hparams`` replacing the generic resolution (TD-MNPO derives β
            from ρ); it must apply :attr:`eta_max`.
        doc: extra notes (paper translation); the rule module's docstring holds the formula and the symbol map.
    """

    name: str
    update: str
    fixed_point: str
    paper: str
    phases: tuple[Phase, ...]
    claim: Claim
    eta_default: float = 0.1
    beta_default: float = 0.0
    beta_positive: bool = False
    beta_used: bool = True
    eta_max: Callable[[HParams], float] | None = None
    eta_max_text: str = ""
    options: tuple[Option, ...] = ()
    players: str | None = None
    noise_schedule: str = "strongly-monotone"
    resolve: Callable[..., dict] | None = None
    loss_override: Callable | None = field(default=None, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "phases", tuple(self.phases))
        object.__setattr__(self, "options", tuple(self.options))
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*", self.name):
            raise ValueError(f"a rule name must be letters, digits, '_', '-' or '.'; got {self.name!r}")
        if not 1 <= len(self.phases) <= 2:
            raise ValueError(f"rule {self.name}: one or two phases, got {len(self.phases)}")
        for k, ph in enumerate(self.phases):
            if callable(ph.anchors) or callable(ph.opponents):
                continue  # checked when resolved (validate_terms)
            if not ph.anchors or not ph.opponents:
                raise ValueError(f"rule {self.name}: phase {k + 1} needs at least one anchor and one opponent")
            for t in ph.anchors:
                if t.kind not in ANCHOR_SOURCES:
                    raise ValueError(f"rule {self.name}: anchor source {t.source!r} (anchors: iterate, ref, past:j, "
                                     "others)")
            for t in ph.opponents:
                if t.kind not in OPPONENT_SOURCES:
                    raise ValueError(f"rule {self.name}: opponent source {t.source!r} (opponents: iterate, past:j, "
                                     "half, mixture, others)")
                if t.kind == "half" and k == 0:
                    raise ValueError(f"rule {self.name}: 'half' is the previous phase's output; phase 1 has none")
            uses_others = any(t.kind == "others" for t in ph.anchors + ph.opponents)
            if uses_others and self.players is None:
                raise ValueError(f"rule {self.name}: an 'others' source needs a player axis (players=option name)")
        if self.players is not None and self.players not in {o.name for o in self.options}:
            raise ValueError(f"rule {self.name}: players={self.players!r} is not one of its options")

    # ------------------------------------------------------------------ derived facts

    @property
    def multiplayer(self) -> bool:
        """The state holds one policy per player (``[..., N, n]``)."""
        return self.players is not None

    @property
    def summary(self) -> str:
        return self.update

    def resolved_phases(self, hp: HParams) -> list:
        """Every phase's ``(anchors, c, opponents)`` at ``hp`` (:meth:`Phase.resolved`), sources checked."""
        out = []
        for k, ph in enumerate(self.phases):
            anchors, c, opps = ph.resolved(hp)
            if not anchors or not opps:
                raise ValueError(f"rule {self.name}: phase {k + 1} has no anchor or no opponent with a non-zero "
                                 "weight")
            for t, _ in anchors:
                if t.kind not in ANCHOR_SOURCES:
                    raise ValueError(f"rule {self.name}: anchor source {t.source!r}")
            for t, _ in opps:
                if t.kind not in OPPONENT_SOURCES or (t.kind == "half" and k == 0):
                    raise ValueError(f"rule {self.name}: opponent source {t.source!r} in phase {k + 1}")
            out.append((anchors, c, opps))
        return out

    def lags(self, hp: HParams) -> tuple[int, int]:
        """``(anchor lag, opponent lag)``: the most past iterates the anchors read and the most past win rates the
        opponents read (``past:j`` with the largest j)."""
        ph = self.resolved_phases(hp)
        a = max((t.lag for anchors, _, _ in ph for t, _ in anchors), default=0)
        o = max((t.lag for _, _, opps in ph for t, _ in opps), default=0)
        return a, o

    def make(self, eta=None, beta=None, **options) -> Solver:
        """The batched tabular solver at these hyper-parameters (validated): see :func:`build_solver`."""
        return build_solver(self, self.hparams(eta, beta, **options))

    def hparams(self, eta=None, beta=None, **options) -> dict:
        """Resolve and validate the hyper-parameters: defaults filled in, conditions checked (ValueError names the
        violated one), unknown options refused."""
        known = {o.name for o in self.options}
        unknown = sorted(k for k in options if k not in known)
        if unknown:
            raise ValueError(f"solver {self.name!r} takes no option(s) {', '.join(unknown)}; its options: "
                             f"{', '.join(['eta', 'beta'] + [o.name for o in self.options])}")
        if self.resolve is not None:
            return dict(self.resolve(eta, beta, options))
        hp: dict = {}
        b = self.beta_default if beta is None else beta
        hp["beta"] = check_positive(b, "beta") if self.beta_positive else check_nonnegative(b, "beta")
        for o in self.options:
            v = options.get(o.name)
            hp[o.name] = o.check(o.default if v is None else v, hp)
        limit = None if self.eta_max is None else float(self.eta_max(hp))
        text = self.eta_max_text or (f"the {self.name} step-size condition eta ≤ {limit:g}" if limit else "")
        hp["eta"] = check_positive(self.eta_default if eta is None else eta, "eta", upper=limit, upper_text=text)
        order = ["eta", "beta"] + [o.name for o in self.options]
        return {k: hp[k] for k in order}

    def loss(self, hp: HParams, phase: int = 0) -> "RuleLoss":
        """The loss on log-probabilities of ``phase`` at resolved ``hp`` (:class:`RuleLoss`)."""
        return RuleLoss(self, hp, phase)


# ---------------------------------------------------------------------- option checks shared by rules


def players_option(default: int = 3) -> Option:
    """``num_players`` ∈ [2, MAX_PLAYERS]."""
    return Option("num_players", default, lambda v, hp: check_players(v))


# ---------------------------------------------------------------------- the derived tabular step


class RuleState(NamedTuple):
    """State of a declared rule after ``t`` steps (immutable; ``step`` returns a new one).

    Attributes:
        log_pi: ``[..., n]`` log π_t (``[..., N, n]`` with a player axis).
        log_pi_sum: same shape, ``log Σ_{s≤t} π_s`` (the running sum for the average iterate).
        t: steps taken.
        log_pi_ref: ``[..., n]`` log π_ref.
        past: ``(log π_{t−1}, log π_{t−2}, …)``, as many as the anchors read (π_0 before the start).
        past_win_rates: ``(g_{t−1}, g_{t−2}, …)``, the win rates ``Pπ_{t−j}`` measured when π_{t−j} was the iterate,
            as many as the opponents read (empty until the first step; then g_0 fills what precedes the start).
        feedback_state: the feedback's random state after the last step (sampled feedback: generator state and
            held draws; ``None`` for exact feedback), so that ``step`` is pure: the same state and feedback give the
            same next state.
        log_pi_avg: (property) log of the average iterate ``(1/(t+1)) Σ_{s≤t} π_s``.
    """

    log_pi: Tensor
    log_pi_sum: Tensor
    t: int
    log_pi_ref: Tensor
    past: tuple = ()
    past_win_rates: tuple = ()
    feedback_state: object = None

    @property
    def log_pi_avg(self) -> Tensor:
        return self.log_pi_sum - math.log(self.t + 1)


def others_mean(x: Tensor) -> Tensor:
    """``[..., N, n] -> [..., N, n]``: row i is ``(1/(N−1)) Σ_{j≠i} x_j``."""
    N = x.shape[-2]
    return (x.sum(-2, keepdim=True) - x) / (N - 1)


def player_feedback(feedback, log_pi: Tensor) -> Tensor:
    """``Pπ_j`` for every player: ``[..., N, n]`` (the player axis is moved first so it broadcasts against P)."""
    return feedback(log_pi.exp().movedim(-2, 0)).movedim(0, -2)


def mix(terms: Sequence[tuple[float, Tensor]]) -> Tensor:
    """``Σ_k w_k ℓ_k``; two terms with weights ``(1 − w, w)`` as one fused ``lerp`` (``ℓ_0 + w(ℓ_1 − ℓ_0)``: one
    kernel, and exact at ``w = 0`` and ``w = 1``)."""
    if len(terms) == 2 and terms[0][0] == 1.0 - terms[1][0]:
        return torch.lerp(terms[0][1], terms[1][1], terms[1][0])
    return combine(terms)


def _init(rule: Rule, hp: HParams, log_pi_ref, log_pi0=None) -> RuleState:
    from .core import init_state

    N = int(hp[rule.players]) if rule.players else None
    s = init_state(log_pi_ref, log_pi0, player_axis=rule.multiplayer, num_players=N)
    lag, _ = rule.lags(hp)
    return RuleState(log_pi=s.log_pi, log_pi_sum=s.log_pi_sum, t=0, log_pi_ref=s.log_pi_ref,
                     past=(s.log_pi,) * lag)


def _restore(feedback, state: RuleState):
    if hasattr(feedback, "get_state"):
        feedback.set_state(feedback.initial_state if state.feedback_state is None else state.feedback_state)


def build_solver(rule: Rule, hp: HParams) -> Solver:
    """The batched closed-form tabular solver of ``rule`` at resolved ``hp``.

    One step, for each phase in order (``ℓ = log π_t``; a source's log-policy as listed in :data:`SOURCES`):

        a = Σ_k w_k ℓ_{s_k},   g = Σ_m v_m Pπ_{o_m},   ℓ_out = prox(a, c, g)   (closed form: log_softmax(a + c·g))

    The iterate's win rate ``Pπ_t`` is queried once per step whichever phases read it; a past iterate's win rate is
    the one measured when it was the iterate. The last phase's ``ℓ_out`` is ``log π_{t+1}``.
    """
    hp = dict(hp)
    phases = rule.resolved_phases(hp)
    lag, win_lag = rule.lags(hp)
    player_axis = rule.multiplayer

    def init(log_pi_ref, log_pi0=None) -> RuleState:
        return _init(rule, hp, log_pi_ref, log_pi0)

    def step(state: RuleState, feedback, prox=tabular_prox) -> RuleState:
        _restore(feedback, state)
        ell = state.log_pi
        win = (lambda lp: player_feedback(feedback, lp)) if player_axis else (lambda lp: feedback(lp.exp()))
        g_t = None
        half = None

        def log_source(term: Term) -> Tensor:
            if term.kind == "iterate":
                return ell
            if term.kind == "ref":
                return state.log_pi_ref.unsqueeze(-2) if player_axis else state.log_pi_ref
            if term.kind == "past":
                return state.past[term.lag - 1]
            return others_mean(ell)  # "others"

        for anchors, c, opps in phases:
            a = mix([(w, log_source(t)) for t, w in anchors])
            g = None
            for t, v in opps:
                if t.kind in ("iterate", "others", "past"):
                    if g_t is None:
                        g_t = win(ell)
                    if t.kind == "iterate":
                        gs = g_t
                    elif t.kind == "others":
                        gs = others_mean(g_t)
                    else:
                        hist = state.past_win_rates
                        gs = hist[t.lag - 1] if len(hist) >= t.lag else (hist[-1] if hist else g_t)
                elif t.kind == "half":
                    gs = win(half)
                else:  # "mixture": the normalised geometric mixture of this phase's anchors
                    gs = win(torch.log_softmax(a, dim=-1))
                term = gs if v == 1.0 else v * gs
                g = term if g is None else g + term
            out = prox(a, c, g)
            half = out
        past = ((ell,) + state.past)[:lag]
        if win_lag:
            prev = state.past_win_rates or (g_t,) * win_lag
            past_g = ((g_t,) + prev)[:win_lag]
        else:
            past_g = ()
        fb_state = feedback.get_state() if hasattr(feedback, "get_state") else None
        return RuleState(log_pi=half, log_pi_sum=update_sum(state.log_pi_sum, half), t=state.t + 1,
                         log_pi_ref=state.log_pi_ref, past=past, past_win_rates=past_g, feedback_state=fb_state)

    return Solver(rule.name, init, step, hp, rule.loss(hp))


# ---------------------------------------------------------------------- the derived loss


class RuleLoss:
    """The loss on log-probabilities of one phase of a rule at resolved hyper-parameters.

    With ``a = Σ_k w_k ℓ_k`` the phase's anchor combination and ``c`` its step:

    * pairwise (:meth:`__call__`): ``E[(Δlog π_θ − Δa − c·target)²]``, ``Δf = f(y) − f(y')``, ``target`` an estimate
      of ``g(y) − g(y')`` (:func:`~.core.mirror_loss`);
    * pointwise (:meth:`pointwise`): ``(log π_θ(y) − a(y) − c·g(y) + log Z)²`` per response;
    * :meth:`step_log_ratio`: ``s(y) = a(y) + c·g(y) − log π_t(y)``, the unnormalised step as a log-ratio to π_t.

    Anchor log-probs come as a mapping ``source -> [B]`` tensor (``"iterate"``, ``"ref"``, ``"past:1"``, …,
    ``"others"`` for the mean over the other players); only :attr:`sources` are read.

    Args:
        rule, hp: the declaration and its resolved hyper-parameters.
        phase: which phase (0 or 1).
    """

    def __init__(self, rule: Rule, hp: HParams, phase: int = 0) -> None:
        self.rule, self.hp, self.phase = rule, dict(hp), phase
        anchors, self.c, _ = rule.resolved_phases(hp)[phase]
        self.weights = tuple((t.source, w) for t, w in anchors)
        self.sources = tuple(s for s, _ in self.weights)

    def anchor(self, log_probs: Mapping[str, Tensor]) -> Tensor:
        """``a = Σ_k w_k ℓ_k`` at the given responses (``[B]``)."""
        return mix([(w, log_probs[s]) for s, w in self.weights])

    def __call__(self, log_pi_theta_y: Tensor, log_pi_theta_yp: Tensor, anchors_y: Mapping[str, Tensor],
                 anchors_yp: Mapping[str, Tensor], target: Tensor, reduction: str = "mean") -> Tensor:
        from .core import mirror_loss

        if self.rule.loss_override is not None:
            return self.rule.loss_override(self, log_pi_theta_y, log_pi_theta_yp, anchors_y, anchors_yp, target,
                                           reduction)
        return mirror_loss(log_pi_theta_y, log_pi_theta_yp, self.anchor(anchors_y), self.anchor(anchors_yp), target,
                           self.c, reduction=reduction)

    def pointwise(self, log_pi_theta_y: Tensor, anchors_y: Mapping[str, Tensor], win_rate: Tensor,
                  log_z: Tensor | float = 0.0) -> Tensor:
        """``[B]`` squared residuals ``(log π_θ(y) − a(y) − c·g(y) + log Z)²``: the step pins each response's absolute
        log-probability ``log π'(y) = a(y) + c·g(y) − log Z`` (the pairwise form fixes only differences)."""
        r = log_pi_theta_y - self.anchor(anchors_y) - self.c * win_rate.to(log_pi_theta_y.dtype) + log_z
        return r * r

    def step_log_ratio(self, anchors_y: Mapping[str, Tensor], win_rate: Tensor) -> Tensor:
        """``s(y) = a(y) + c·g(y) − log π_t(y)`` (float64), so that ``Z = E_{y~π_t} e^{s(y)}``."""
        anc = {k: v.double() for k, v in anchors_y.items()}
        return self.anchor(anc) + self.c * win_rate.double() - anc["iterate"]


def loss_inputs(rule: Rule, hp: HParams) -> tuple[str, ...]:
    """Every anchor source any phase's loss reads (``"iterate"``, ``"ref"``, ``"past:j"``, ``"others"``)."""
    out: list[str] = []
    for k in range(len(rule.phases)):
        for s in RuleLoss(rule, hp, k).sources:
            if s not in out:
                out.append(s)
    return tuple(out)


def describe(rule: Rule) -> dict:
    """A JSON-ready row: name, update, fixed point, claim, paper, defaults, options (``nashlab solvers``)."""
    return {"name": rule.name, "update": rule.update, "fixed_point": rule.fixed_point, "claim": rule.claim.kind,
            "claim_text": rule.claim.text, "paper": rule.paper, "phases": len(rule.phases),
            "defaults": {"eta": rule.eta_default, "beta": rule.beta_default,
                         **{o.name: o.default for o in rule.options}},
            "eta_limit": rule.eta_max_text or ("none" if rule.eta_max is None else "declared"),
            "multiplayer": rule.multiplayer}


__all__ = ["Claim", "Option", "Phase", "Rule", "RuleLoss", "RuleState", "Term", "SOURCES", "anchor", "build_solver",
           "describe", "loss_inputs", "opponent", "others_mean", "player_feedback", "players_option", "MAX_PLAYERS"]

