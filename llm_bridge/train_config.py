"""The online loop's hyper-parameters, :class:`TrainConfig`, and their validation (one line naming the bad key).

Re-exported by :mod:`nashlab.llm_bridge.trainer`, where it has always been imported from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from nashlab.toml_config import check_fields, normalize_table, option


#: :attr:`TrainConfig.estimator` values: the pair target from a prompt's K self-play samples.
Estimator = Literal["leave-one-out", "leave-two-out"]
ESTIMATOR_NAMES = get_args(Estimator)

#: Upper bounds far beyond any run, so a typo (1e12 iterations) is refused instead of run: counts of iterations,
#: epochs and steps; samples, comparisons and tokens per prompt.
_MAX_COUNT, _MAX_SAMPLES = 2**20, 2**16


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of the online loop (all validated in ``__post_init__``).

    Attributes:
        solver: a registered rule name (``nashlab solvers``), ``path/to/rule.py:NAME``, an installed entry point, or
            a :class:`nashlab.solvers.Rule`.
        eta, beta: the rule's η, β (``None``: β from the game, η the solver's default).
        solver_options: extra factory options (``num_players``, ``lam``, ``rho``).
        iterations: online iterations ``T``.
        samples_per_prompt: ``K ≥ 2``.
        num_comparisons: ``M``, comparisons per win-rate estimate: responses of the opponent per prompt that each
            response is judged against where the targets need separate opponents (extragradient / mixture rules,
            off-policy pairs), so ``ĝ(y) = (1/M) Σ_m o(y ≻ y''_m)``. The tabular oracle's ``num_comparisons`` is the
            same M (:mod:`nashlab.games.oracle`). ``opponent_samples``, its former name, is still read (deprecated,
            one stderr note).
        epochs: passes over an iteration's pairs per phase.
        prompts_per_step: prompts (all their pairs) per optimizer step (global, over processes).
        grad_accum: micro-batches per optimizer step.
        optimizer: ``"adamw"`` or ``"sgd"``; lr, weight_decay, betas (AdamW), max_grad_norm (0 = no clipping).
        lr_final: if set, the learning rate decays linearly over iterations from ``lr`` (iteration 0) to
            ``lr_final`` (last iteration): a shrinking inexact step that damps the sampling noise of late iterations.
        reset_optimizer: start every iteration's fit with a fresh optimizer state (Adam moments zeroed), as the
            papers' iterative pipelines do (SPPO, INPO, MNPO: each iteration is a new training run from ``π_t``).
            Moments carried across iterations act as heavy-ball momentum on the *game* dynamics, which rotates
            iterates further around a cyclic game's equilibrium; off by default (EGPO's code carries them).
        max_new_tokens, temperature, top_p: sampling of the policy (π is the model decoded this way; opponents
            ``y''`` always come from it).
        pair_temperature, pair_top_p: sampling of the K training responses when it should differ (an exploratory
            pair distribution ρ, as EGPO's code samples its pairs at temperature 2); ``None``: the policy's.
        extra_responses: texts added to every prompt's K responses (e.g. a game's move words), also part of ρ.
            The loss's minimiser is the rule's step for any full-support pair distribution ρ, provided the targets
            estimate ``g(y) − g(y')`` against on-policy opponents: whenever ρ ≠ π_t (either option set), the win
            rates use ``num_comparisons`` fresh samples of π_t instead of the leave-one-out self-play estimate.
        feedback: ``"sampled"`` (default: win rates estimated from judged samples, as above) or ``"exact"``: with
            the known-Nash judge of the trainer's game, ``ĝ(y_i) = Σ_a P⁺[a(y_i), a] π_opp(a)`` from the opponent's
            exact action distribution (the expectation of the sampled estimate; the tabular solvers' exact
            feedback). The K training responses are still sampled; only the opponents' sampling noise is removed,
            which separates a rule's last-iterate behaviour from estimation noise. Not for ``nash-md`` (its
            token-level mixture has no exact action distribution here).
        labels: what one judge query contributes (``feedback = "sampled"``): ``"hard"`` (default) the judge's
            Bernoulli verdict ``o(y ≻ y') ~ Bernoulli(P(y ≻ y'))``, or ``"soft"`` its probability ``P(y ≻ y')`` itself
            (:meth:`Judge.probabilities <nashlab.llm_bridge.judges.Judge.probabilities>`: the known-Nash judge's
            ``P⁺_c[a(y), a(y')]``, a reward model's ``σ(r(y) − r(y'))``). Both have mean ``P(y ≻ y')``; per
            comparison against ``y'' ~ π`` the variance is ``g(1 − g)`` (hard) and
            ``g(1 − g) − E_{y''}[P(1 − P)] = Var_{y''} P(y ≻ y'')`` (soft: never more;
            :mod:`nashlab.solvers.estimators`). The number of judge queries is the same.
        estimator: the pair target ``ĝ(y_i) − ĝ(y_j)`` from a prompt's K on-policy samples judged against each other
            (``J_ik``: one query per unordered pair, ``J_ki = 1 − J_ik``): ``"leave-one-out"`` (default) the difference
            of leave-one-out win rates ``ĝ_i = (1/(K−1)) Σ_{k≠i} J_ik``, which contains ``(J_ij − J_ji)/(K−1)`` with
            mean ``(2P(y_i ≻ y_j) − 1)/(K−1)`` given the pair, so a pairwise loss regressing on it takes a step about
            ``K/(K−1)`` too long; or ``"leave-two-out"``, ``D_ij = (1/(K−2)) Σ_{k≠i,j} (J_ik − J_jk)``
            (:func:`nashlab.solvers.estimators.loo_differences`), conditionally unbiased given ``(y_i, y_j)``:
            ``E[D_ij | y_i, y_j] = g(y_i) − g(y_j)``, needs ``K ≥ 3`` and ``loss_form = "pairwise"``. Where a phase's
            targets come from M separate opponents (pairs not on-policy, π_½, the mixture, past iterates) every
            response is judged against the same M opponents, so ``ĝ(y_i) − ĝ(y_j)`` is already the shared-opponent
            difference, unbiased given the pair, under either setting.
        schedule: ``η_t`` of iteration ``t`` (:func:`nashlab.solvers.schedules.step_size`, ``η_0 = eta``):
            ``"constant"`` (default) ``η_t = η_0``; ``"inverse-t"`` ``η_0/(1 + βη_0 t)``; ``"inverse-sqrt-t"``
            ``η_0/√(1 + t)``; ``"theory"`` the rule's declared noise schedule (``η_0/(1 + βη_0 t/2)`` for the
            β-regularised rules, ``η_0/√(1 + t)`` for Hedge rules or β = 0). Iteration ``t``'s loss is the rule's
            declaration at ``rule.hparams(eta=η_t, beta, **solver_options)`` (its step ``c`` and anchor weights
            follow η_t; TD-MNPO's ``rho = ηβ`` too, as in the tabular solver); decreasing schedules never exceed η_0,
            so the step-size condition checked at η_0 holds throughout.
        loss_form: ``"pairwise"`` (default: the rule's loss on all pairs ``i < j`` of a prompt's responses) or
            ``"pointwise"``: each response's absolute log-probability is regressed on the rule's step,
            ``(log π_θ(y) − a(y) − c·g(y) + log Ẑ)²`` (:meth:`SequenceLoss.pointwise`), with
            ``Ẑ = (1/K) Σ_k e^{s(y_k)}`` over the K on-policy samples (extra responses are fitted but not in Ẑ). The
            pairwise loss fixes only differences of sampled log-probs, so a large answer space lets fitting move mass
            onto responses nobody sampled; the pointwise form pins the sampled responses' mass (the generalisation
            of SPPO's square loss, whose ``½`` stands in for ``log Z``). Needs on-policy pairs (no
            ``pair_temperature`` / ``pair_top_p``).
        normalize_logprobs: length-normalised log-probs (SimPO/MNPO convention) instead of sums.
        generation_path: ``"auto"`` (= ``"fast"``: one batched decoding loop), ``"plain"`` (``model.generate`` per
            prompt) or ``"fast"`` (:func:`~nashlab.llm_bridge.generation.sample_responses`).
        share_prompt: ``"auto"`` (default), ``true`` or ``false``: score a prompt's K responses by running the prompt
            once and repeating its KV cache (:func:`~nashlab.llm_bridge.policy.shared_prompt_logprobs`, one forward
            per prompt) instead of one padded batch of all prompts' responses (chunked by
            :data:`SCORE_TOKEN_BUDGET` tokens). ``"auto"`` shares only where it wins, by :func:`share_prompt_wins`.
            Single process only — under DDP the padded batch is used, as DDP expects one forward per backward.
        bf16: ``"auto"`` (on CUDA), ``"yes"``, ``"no"``.
        compile: score and train through ``torch.compile`` (inductor, dynamic shapes): the fit's forward and backward
            and the π_t / π_ref anchor forwards. A GPU throughput option (``scripts/bench_llm.py`` times it); the
            log-probs are those of the eager model up to float rounding.
        kl_samples: fresh samples of the updated policy per prompt for the ``kl_to_ref`` estimate (their own seed
            stream: they never change the training draws); ``None``: ``samples_per_prompt``; 0: not estimated (NaN).
        seed: all randomness derives from it.
        checkpoint_every: iterations between checkpoints (0: only at the end).
        eval_every: iterations between evaluations (exact action distribution, its metrics, ``kl_to_ref``); iteration
            0 and the last are always evaluated, other rows hold NaN there. ``None``: ``checkpoint_every``. With
            ``feedback = "exact"`` every iteration is evaluated (the exact distribution is the feedback).
    """

    solver: str = option("inpo", check=False, must="a rule name, `path/to/rule.py:NAME` or an installed entry point")
    eta: float | None = option(None, above=0)
    beta: float | None = option(None, lo=0)
    solver_options: dict = option(default_factory=dict)
    iterations: int = option(10, lo=1, hi=_MAX_COUNT)
    samples_per_prompt: int = option(8, lo=2, hi=_MAX_SAMPLES)
    num_comparisons: int = option(8, lo=1, hi=_MAX_SAMPLES, alias="opponent_samples")
    epochs: int = option(4, lo=1, hi=_MAX_COUNT)
    prompts_per_step: int = option(4, lo=1, hi=_MAX_COUNT)
    grad_accum: int = option(1, lo=1, hi=_MAX_COUNT)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = option(1e-3, above=0)
    lr_final: float | None = option(None, above=0)
    reset_optimizer: bool = False
    weight_decay: float = option(0.0, lo=0)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    max_grad_norm: float = option(1.0, lo=0)
    max_new_tokens: int = option(4, lo=1, hi=_MAX_SAMPLES)
    temperature: float = option(1.0, above=0)
    top_p: float = option(1.0, above=0, hi=1)
    pair_temperature: float | None = option(None, above=0)
    pair_top_p: float | None = option(None, above=0, hi=1)
    extra_responses: tuple[str, ...] = option((), nonempty=True)
    feedback: Literal["sampled", "exact"] = "sampled"
    labels: Literal["hard", "soft"] = "hard"
    estimator: Estimator = "leave-one-out"
    schedule: str = option("constant", must="a name of `nashlab.solvers.schedules.SCHEDULES`")
    loss_form: Literal["pairwise", "pointwise"] = "pairwise"
    normalize_logprobs: bool = False
    generation_path: Literal["auto", "plain", "fast"] = "auto"
    share_prompt: bool | Literal["auto"] = "auto"
    bf16: Literal["auto", "yes", "no"] = "auto"
    compile: bool = False
    kl_samples: int | None = option(None, lo=0, hi=_MAX_SAMPLES)
    seed: int = option(0, lo=0, hi=2**63 - 1)
    checkpoint_every: int = option(1, lo=0, hi=_MAX_COUNT)
    eval_every: int | None = option(None, lo=0, hi=_MAX_COUNT)

    def __post_init__(self) -> None:
        check_fields(self)  # every field's type, range and choices, as declared above
        from nashlab.solvers.rule import Rule

        if not (isinstance(self.solver, str) and self.solver) and not isinstance(self.solver, Rule):
            raise ValueError(f"solver must be a rule name, path/to/rule.py:NAME or a Rule; got {self.solver!r}")
        if not all(0 <= b < 1 for b in self.adam_betas):
            raise ValueError(f"adam_betas must be two numbers in [0, 1); got {list(self.adam_betas)!r}")
        if self.loss_form == "pointwise" and (self.pair_temperature not in (None, self.temperature)
                                              or self.pair_top_p not in (None, self.top_p)):
            raise ValueError("loss_form = 'pointwise' estimates log Z from on-policy samples; it cannot be combined "
                             "with pair_temperature / pair_top_p")
        from nashlab.solvers.schedules import SCHEDULES

        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; got {self.schedule!r}")
        if self.feedback == "exact" and (self.labels, self.estimator) != ("hard", "leave-one-out"):
            raise ValueError("labels and estimator choose how sampled judgements are combined; feedback = 'exact' "
                             "reads no judgements (leave them at 'hard' / 'leave-one-out' or use feedback = 'sampled')")
        if self.estimator == "leave-two-out":
            if self.samples_per_prompt < 3:
                raise ValueError(f"estimator = 'leave-two-out' needs samples_per_prompt ≥ 3; got "
                                 f"{self.samples_per_prompt}")
            if self.loss_form != "pairwise":
                raise ValueError("estimator = 'leave-two-out' gives pair targets; loss_form = 'pointwise' regresses "
                                 "on win rates (use estimator = 'leave-one-out')")
        if self.prompts_per_step % self.grad_accum:
            raise ValueError(f"prompts_per_step ({self.prompts_per_step}) must be divisible by grad_accum "
                             f"({self.grad_accum})")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """A :class:`TrainConfig` from a dict of its fields (a ``[train]`` table, a run folder's ``train``): an unknown
        key is refused with the closest valid one, a deprecated name (``opponent_samples``) read as its field's with
        one stderr note, lists become tuples."""
        return cls(**normalize_table(cls, d, "[train]", "train"))
