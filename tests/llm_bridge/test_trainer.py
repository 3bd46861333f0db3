"""Trainer pairs that must agree: resumed == uninterrupted; one process == two processes; plus its outputs."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import state, tiny_run
from nashlab.llm_bridge.policy import collate, sequence_logprobs
from nashlab.llm_bridge.trainer import TrainConfig, adamw, derive_seed

HERE = os.path.dirname(os.path.abspath(__file__))


def _scalars(history):
    """Metrics without timings, NaN (the loss before training) made comparable."""
    return json.loads(json.dumps([{k: v for k, v in m.items() if not k.startswith("seconds") and k != "tokens_per_second"}
                                  for m in history]).replace("NaN", "null"))


@pytest.mark.parametrize("solver", ["egpo", "td-mnpo"])
def test_resume_equals_uninterrupted(tmp_path, solver):
    """Kill after 2 of 4 iterations, rebuild everything from scratch, resume: identical weights and metrics.
    egpo exercises the restore-and-step and opponent sampling, td-mnpo the history checkpoints."""
    full = tiny_run(solver, out_dir=str(tmp_path / "full"), iterations=4, optimizer="adamw")
    h_full = full.train()
    first = tiny_run(solver, out_dir=str(tmp_path / "cut"), iterations=4, optimizer="adamw")
    first.train(stop_after=2)
    assert first.iteration == 2
    torch.manual_seed(12345)  # disturb global RNG state: resume must restore it from the checkpoint
    resumed = tiny_run(solver, out_dir=str(tmp_path / "cut"), iterations=4, optimizer="adamw")
    h_res = resumed.train(resume=True)
    a, b = state(full), state(resumed)
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=0, rtol=0)
    assert _scalars(h_res) == _scalars(h_full)
    with open(tmp_path / "cut" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["iteration"]) for r in rows] == [0, 1, 2, 3, 4]
    assert os.listdir(tmp_path / "cut" / "tb")
    st = json.load(open(tmp_path / "cut" / "checkpoint" / "state.json"))
    assert st["iteration"] == 4 and st["config"]["solver"] == solver


def test_resume_without_checkpoint_refuses(tmp_path):
    with pytest.raises(FileNotFoundError):
        tiny_run(out_dir=str(tmp_path)).train(resume=True)


def test_a_fresh_train_refuses_a_folder_holding_a_run_and_resume_refuses_another_config(tmp_path):
    tiny_run("inpo", out_dir=str(tmp_path), iterations=1).train()
    with pytest.raises(ValueError, match="already holds a run"):
        tiny_run("inpo", out_dir=str(tmp_path), iterations=1).train()
    with pytest.raises(ValueError, match="train.lr was 0.01, now 0.02"):
        tiny_run("inpo", out_dir=str(tmp_path), iterations=1, lr=2e-2).train(resume=True)


def test_two_processes_equal_one(tmp_path):
    """2 CPU processes (torch.distributed.run, gloo, accelerate DDP) on the same global batch as 1 process."""
    out = tmp_path / "dist"
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    port = 29500 + os.getpid() % 1000
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           os.path.join(HERE, "dist_worker.py"), str(out), "egpo"]
    proc = subprocess.run(cmd, cwd=HERE, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from safetensors.torch import load_file

    two = {"state": load_file(f"{out}.safetensors"), "history": json.load(open(f"{out}.json"))}
    one = tiny_run("egpo", iterations=2)
    h_one = one.train()
    a = state(one)
    for k in a:
        torch.testing.assert_close(two["state"][k], a[k], atol=2e-5, rtol=1e-4)
    for m1, m2 in zip(h_one, two["history"]):
        assert m2["duality_gap"] == pytest.approx(m1["duality_gap"], abs=1e-4)


def test_training_changes_the_exact_distribution_toward_moves():
    """Five EGPO iterations move exact mass from the dominated 'other' action to the moves (a direction check on
    the full loop; the halving of the gap is checked on llm_tiny.toml by test_cli)."""
    tr = tiny_run("egpo", iterations=5, epochs=3, samples_per_prompt=8)
    h = tr.train()
    assert h[-1]["other_mass"] < h[0]["other_mass"] - 0.1
    assert h[-1]["duality_gap"] < h[0]["duality_gap"]


def test_seeds_are_addressable():
    assert derive_seed(0, 1, 2) == derive_seed(0, 1, 2) != derive_seed(0, 2, 1)
    assert 0 <= derive_seed(2**40, -1) < 2**63


@pytest.mark.parametrize("bad", [dict(samples_per_prompt=1), dict(lr=0.0), dict(optimizer="rmsprop"),
                                 dict(prompts_per_step=3, grad_accum=2), dict(iterations=0), dict(compile="yes"),
                                 dict(kl_samples=-1), dict(lr="x"), dict(lr=float("nan")), dict(eta=-1.0),
                                 dict(beta=float("inf")), dict(top_p=1.5), dict(temperature=0), dict(seed=-1),
                                 dict(seed=2**63), dict(iterations=10**12), dict(adam_betas=(1.0, 0.9)),
                                 dict(extra_responses=("",)), dict(generation_path="x"), dict(solver_options=[]),
                                 dict(solver=3), dict(weight_decay=-0.1)])
def test_config_refuses_bad_values(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        TrainConfig(**bad)


def test_config_refuses_unknown_keys():
    with pytest.raises(ValueError, match="unknown key .train.learning_rate.; valid keys in \\[train\\]: solver, "):
        TrainConfig.from_dict({"learning_rate": 1e-3})


def _record_fits(tr):
    """Wrap ``tr._fit`` to keep, per call, ``(phase, {ctx: (anchors, win_rate, pair_target, texts)})`` as the fit saw
    them."""
    seen = []
    orig = tr._fit

    def fit(rollouts, order, phase):
        seen.append((phase, {ctx: ({k: v.detach().double().clone() for k, v in r.anchors.items()},
                                   r.win_rate.detach().double().clone(),
                                   None if r.pair_target is None else r.pair_target.detach().double().clone(),
                                   list(r.texts))
                             for ctx, r in rollouts.items()}))
        return orig(rollouts, order, phase)

    tr._fit = fit
    return seen


def _anchor_by_hand(rule, hp, phase, anchors):
    """``a = Σ_k w_k ℓ_k`` of the declaration's phase, read off the trainer's stored log-probs: ``iterate`` is column
    ``"t"`` (or column 0 of ``"hist"``), ``ref`` is ``"ref"``, ``past:j`` column j of ``"hist"`` and ``others`` the mean
    of its first N − 1 columns (the documented realisation: past iterates play the other players)."""
    hist = anchors.get("hist")
    it = anchors["t"] if "t" in anchors else hist[:, 0]
    a = torch.zeros_like(it)
    for term, w in rule.resolved_phases(hp)[phase][0]:
        if term.kind == "iterate":
            x = it
        elif term.kind == "ref":
            x = anchors["ref"]
        elif term.kind == "past":
            x = hist[:, term.lag]
        else:
            x = hist[:, : int(hp[rule.players]) - 1].mean(-1)
        a = a + w * x
    return it, a


@pytest.mark.parametrize("solver", sorted(__import__("nashlab.solvers", fromlist=["RULES"]).RULES))
def test_two_real_iterations_report_the_numbers_recomputed_by_hand(solver):
    """Two real iterations (sampling, judging, opponents, fit) per registered rule, one optimizer step per phase
    (4 prompts per step, 1 epoch), checked against independent computations:

    * each iteration's reported ``loss`` is its last phase's pairwise loss at θ_t (the step's only forward):
      ``mean_{c, i<j} (Δlog π_t − Δa − c·Δĝ)²``, recomputed in float64 from the stored anchors and win rates with the
      weights ``w_k`` and step ``c`` read off the declaration (``rule.resolved_phases``), not through the loss code.
      At iteration 1 every anchor is π_0 = π_ref and the residual is ``−c·Δĝ``; iteration 2, where π_t ≠ π_ref,
      is the one that tells the anchor weights and the sign of c apart (checked: negating c in the recomputation fails
      7 of the 10 rules; for mwu, sppo and omwu, anchored at π_t alone, the loss at θ_t is c²·mean(Δĝ²) and fixes
      only |c|);
    * ``duality_gap``, ``reg_duality_gap``, ``kl_to_nash`` and ``other_mass`` are those of the trained model's exact
      action distribution (``game.exact_action_distribution``) by ``nashlab.games``' own metrics and Nash solver;
    * each iteration changed the model, so the recomputation is not of an untouched policy.
    The update each rule realises is checked exactly in test_loss_equals_step.py."""
    from nashlab.games import duality_gap, kl_to_nash, reg_duality_gap, regularized_nash
    from nashlab.solvers import RULES

    eta = {"nash-mp": 1.0, "mmd": 0.2, "omwu": 0.125}.get(solver, 0.5)
    beta = 0.0 if not RULES[solver].beta_used else 0.05
    tr = tiny_run(solver, iterations=2, epochs=1, eta=eta, beta=beta, prompts_per_step=4)
    fits = _record_fits(tr)
    h = tr.train()
    n_phases = len(RULES[solver].phases)
    assert len(h) == 3 and [ph for ph, _ in fits] == list(range(n_phases)) * 2

    rule, hp = tr.loss.rule, tr.loss.hparams
    for it in (1, 2):
        phase, rolls = fits[it * n_phases - 1]
        c = rule.resolved_phases(hp)[phase][1]
        sq = []
        for anchors, g, pair_target, _ in rolls.values():
            lp, a = _anchor_by_hand(rule, hp, phase, anchors)
            K = len(g)
            for i in range(K):
                for j in range(i + 1, K):
                    target = g[i] - g[j] if pair_target is None else pair_target[i, j]
                    sq.append(float(((lp[i] - lp[j]) - (a[i] - a[j]) - c * target) ** 2))
        assert len(sq) == 4 * 15  # 4 prompts × C(6, 2) pairs
        assert h[it]["loss"] == pytest.approx(float(np.mean(sq)), rel=1e-4, abs=1e-7), it

    game = tr.game
    pi = game.exact_action_distribution(tr.policy, tr.unwrapped).double().numpy()
    ref = game.exact_action_distribution(tr.policy, tr.ref_model).double().numpy()
    P = game.P_aug
    assert h[2]["duality_gap"] == pytest.approx(float(np.mean(duality_gap(P, pi))), abs=1e-9)
    ref = np.clip(ref, 1e-300, None)
    ref = ref / ref.sum(-1, keepdims=True)
    assert h[2]["reg_duality_gap"] == pytest.approx(float(np.mean(reg_duality_gap(P, pi, ref, game.beta))), abs=1e-9)
    star = regularized_nash(P, ref, game.beta)
    assert h[2]["kl_to_nash"] == pytest.approx(float(np.mean(kl_to_nash(star, np.clip(pi, 1e-300, None)))), abs=1e-9)
    assert h[2]["other_mass"] == pytest.approx(float(pi[:, -1].mean()), abs=1e-12)
    np.testing.assert_allclose(np.asarray(h[2]["pi"]), pi, atol=1e-12)
    for t in (1, 2):
        assert np.abs(np.asarray(h[t]["pi"]) - np.asarray(h[t - 1]["pi"])).max() > 1e-6


def test_off_policy_pairs_use_on_policy_opponents():
    """extra_responses make the pairs off-policy: win rates then come from fresh π_t samples (not leave-one-out)."""
    tr = tiny_run("inpo", iterations=1, epochs=1, extra_responses=("rock", "paper"))
    assert not tr.on_policy_pairs
    calls = []
    orig = tr._judge_against
    tr._judge_against = lambda r, opp, phase: calls.append(len(opp)) or orig(r, opp, phase)
    h = tr.train()
    assert calls and all(n == tr.config.num_comparisons for n in calls)
    assert np.isfinite(h[1]["kl_to_ref"])  # estimated from fresh on-policy samples, whatever the pairs were


def test_kl_to_ref_estimates_the_exact_sequence_kl_of_the_updated_policy():
    """``kl_to_ref`` of a row is ``KL(π_{t+1}‖π_ref)`` at sequence level. With two new tokens the response space is
    small enough to enumerate ([EOS] and every [a, b], a ≠ EOS; their probabilities sum to 1), so the exact KL and the
    estimator's standard error are computed by hand; the estimate from 2,000 samples per prompt lies within 4 SE.
    By the data-processing inequality it also bounds the exact action-level KL from above."""
    n = 2000
    tr = tiny_run("egpo", iterations=2, max_new_tokens=2, kl_samples=n)
    h = tr.train()
    eos, V = tr.policy.eos_token_id, tr.unwrapped.config.vocab_size
    resp = [[eos]] + [[a, b] for a in range(V) if a != eos for b in range(V)]
    kls, variances = [], []
    with torch.no_grad():
        for c in range(tr.game.num_contexts):
            batch = collate([tr.prompt_ids[c]] * len(resp), resp, tr.policy.pad_token_id, "left")
            lp = sequence_logprobs(tr.unwrapped, batch).double()
            d = lp - sequence_logprobs(tr.ref_model, batch).double()
            p = lp.exp()
            assert float(p.sum()) == pytest.approx(1.0, abs=1e-5)  # the enumeration is the whole support
            kls.append(float((p * d).sum()))
            variances.append(float((p * (d - kls[-1]) ** 2).sum()))
    C = len(kls)
    exact, se = sum(kls) / C, (sum(variances) / C ** 2 / n) ** 0.5
    assert abs(h[-1]["kl_to_ref"] - exact) < 4 * se, (h[-1]["kl_to_ref"], exact, se)
    assert exact >= h[-1]["action_kl_to_ref"] - 1e-9
    assert h[0]["kl_to_ref"] == 0.0  # π_0 = π_ref


def test_kl_samples_have_their_own_seed_stream_and_zero_skips_them():
    """The KL samples never change the training draws: with and without them the runs are identical."""
    skip = tiny_run("inpo", iterations=2, epochs=1, kl_samples=0).train()
    est = tiny_run("inpo", iterations=2, epochs=1).train()
    assert np.isnan(skip[1]["kl_to_ref"]) and np.isfinite(est[1]["kl_to_ref"])
    for k in ("loss", "duality_gap", "pi"):
        assert [m[k] for m in skip[1:]] == [m[k] for m in est[1:]]


def test_gradient_accumulation_equals_one_big_step():
    """prompts_per_step = 4 as 2 micro-batches of 2 prompts == one batch of 4 (SGD, equal pair counts per
    micro-batch, so the mean of the micro-batch means is the batch mean)."""
    a = tiny_run("inpo", iterations=2, optimizer="sgd", lr=0.05, prompts_per_step=4, grad_accum=1)
    b = tiny_run("inpo", iterations=2, optimizer="sgd", lr=0.05, prompts_per_step=4, grad_accum=2)
    a.train()
    b.train()
    sa, sb = state(a), state(b)
    for k in sa:
        torch.testing.assert_close(sb[k], sa[k], atol=1e-5, rtol=1e-4)
    assert not all(torch.equal(sa[k], v) for k, v in state(tiny_run("inpo", iterations=2)).items())


def test_suffix_average_metrics_are_those_of_the_mixture_of_the_last_half_of_the_iterates():
    """``avg_duality_gap`` at iteration t is DG_0 of the mean of π_s, s in {⌊t/2⌋+1..t}, recomputed here from the
    stored exact distributions with games' own metric (an independent path from the trainer's slicing)."""
    from nashlab.games import duality_gap

    tr = tiny_run("sppo", iterations=5)
    hist = tr.train()
    P = tr.game.P_aug
    pis = [np.asarray(h["pi"]) for h in hist]
    for t, h in enumerate(hist):
        window = [t] if t == 0 else list(range(t // 2 + 1, t + 1))
        mean = np.mean([pis[s] for s in window], axis=0)
        assert h["avg_duality_gap"] == pytest.approx(float(np.mean(duality_gap(P, mean))), abs=1e-12)
        assert h["avg_other_mass"] == pytest.approx(float(mean[:, -1].mean()), abs=1e-12)
    assert hist[1]["avg_duality_gap"] == pytest.approx(hist[1]["duality_gap"], abs=1e-12)  # S_1 = {1}
    assert hist[4]["avg_duality_gap"] != pytest.approx(hist[4]["duality_gap"], abs=1e-9)  # S_4 = {3, 4}


def test_reset_optimizer_zeroes_adam_moments_each_iteration():
    """With ``reset_optimizer`` every iteration starts from fresh Adam moments: after one iteration of E epochs the
    step count is E × steps per epoch, not the running total; without it the count accumulates."""
    def steps(tr):
        return {int(s["step"]) for s in tr.optimizer.state.values()}

    fresh = tiny_run("inpo", iterations=3, epochs=2, reset_optimizer=True, optimizer="adamw")
    fresh.train()
    carried = tiny_run("inpo", iterations=3, epochs=2, optimizer="adamw")
    carried.train()
    per_iter = 2 * (4 // 2)  # epochs × (contexts / prompts_per_step)
    assert steps(fresh) == {per_iter}
    assert steps(carried) == {3 * per_iter}


def _adamw_run(device, fused_helper, lr=1e-2):
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(64, 32, device=device))
    opt = adamw([w], lr=lr, weight_decay=0.01, betas=(0.9, 0.99)) if fused_helper else \
        torch.optim.AdamW([w], lr=lr, weight_decay=0.01, betas=(0.9, 0.99), foreach=False)
    x = torch.randn(16, 64, device=device)
    for _ in range(5):
        opt.zero_grad()
        ((x @ w).tanh() ** 2).mean().backward()
        opt.step()
    return opt, w.detach().cpu()


def test_adamw_is_fused_on_cpu_and_makes_the_same_update():
    opt, w = _adamw_run("cpu", True)
    assert opt.defaults["fused"] is True
    torch.testing.assert_close(w, _adamw_run("cpu", False)[1], rtol=1e-5, atol=1e-6)
    assert not torch.equal(w, _adamw_run("cpu", True, lr=2e-2)[1])  # the comparison can fail: lr matters


@pytest.mark.gpu
def test_adamw_is_fused_on_cuda_and_makes_the_same_update():
    opt, w = _adamw_run("cuda", True)
    assert opt.defaults["fused"] is True
    torch.testing.assert_close(w, _adamw_run("cuda", False)[1], rtol=1e-5, atol=1e-6)


def _compiled_matches_eager(rtol):
    eager = tiny_run("egpo", iterations=2)
    compiled = tiny_run("egpo", iterations=2, compile=True)
    assert compiled._fit_model is not compiled.model and eager._fit_model is eager.model
    he, hc = eager.train(), compiled.train()
    for a, b in zip(he, hc):
        for k in ("loss", "duality_gap", "kl_to_ref", "win_rate_vs_ref"):
            assert b[k] == pytest.approx(a[k], rel=rtol, abs=rtol, nan_ok=True), (k, a[k], b[k])
    for k, v in state(eager).items():
        torch.testing.assert_close(state(compiled)[k], v, rtol=rtol, atol=rtol)


def test_compile_trains_the_same_model(monkeypatch):
    """``compile = true`` routes the fit and the anchor forwards through ``torch.compile`` (dynamic shapes: every
    batch has its own length); two EGPO iterations then give the eager run's metrics and weights. The CPU test uses
    the ``aot_eager`` backend (the same graph capture and compiled autograd, without inductor's code generation,
    which takes minutes on CPU); the GPU test below uses inductor."""
    import nashlab.llm_bridge.trainer as trainer

    monkeypatch.setattr(trainer, "COMPILE_BACKEND", "aot_eager")
    _compiled_matches_eager(1e-5)


@pytest.mark.gpu
def test_compile_with_inductor_on_cuda_trains_the_same_model():
    _compiled_matches_eager(1e-3)


def test_exact_feedback_is_the_limit_of_sampled_win_rates():
    """``feedback = "exact"``: ĝ(y) = Σ_a P⁺[a(y), a] π_t(a) equals, within Monte-Carlo error, the trainer's own
    sampled estimate from M = 4000 judged samples of π_t (an independent path: generation + judge)."""
    from nashlab.llm_bridge.trainer import _Rollout

    texts = ["rock", "Paper", "scissors", "hello", "play rock"]
    exact = tiny_run("inpo", feedback="exact")
    exact.history.append(exact.evaluate())  # π_0, as train() records it
    sampled = tiny_run("inpo", num_comparisons=4000, extra_responses=("rock",))  # off-policy: fresh M samples
    for ctx in range(2):
        r = _Rollout(ctx, [[0]] * len(texts), texts)
        g_exact, = exact._win_rates([r], "t", phase=0)
        g_mc, = sampled._win_rates([r], "t", phase=0)
        pi = np.asarray(exact.history[0]["pi"])[ctx]
        P = exact.game.P_aug
        P = P[ctx] if P.ndim == 3 else P
        by_hand = [P[exact.game.parse(x)] @ pi for x in texts]
        np.testing.assert_allclose(g_exact.numpy(), by_hand, atol=1e-12)
        np.testing.assert_allclose(g_exact.numpy(), g_mc.numpy(), atol=4 * 0.5 / np.sqrt(4000))


@pytest.mark.parametrize("solver", ["egpo", "sppo"])
def test_exact_feedback_trains_on_the_exact_win_rates(solver):
    """With ``feedback = "exact"`` every fit of iteration t sees ĝ(y) = P⁺[a(y)] · π_t (phase 1; for EGPO's second
    phase, P⁺[a(y)] · π_½ with π_½ the exact distribution of the model phase 1 left), recomputed here from the
    recorded exact distributions and the parsed responses; and every row's ``duality_gap`` is DG_0 of its ``pi``."""
    from nashlab.games import duality_gap

    tr = tiny_run(solver, feedback="exact", iterations=2)
    fits = _record_fits(tr)
    halves = []
    orig_fit = tr._fit

    def fit(rollouts, order, phase):  # π_½: the model phase 1 left, seen just before it is restored to θ_t
        if phase == 0 and len(tr.loss.opponents) > 1:
            out = orig_fit(rollouts, order, phase)
            halves.append(tr.game.exact_action_distribution(tr.policy, tr.unwrapped).double().numpy())
            return out
        return orig_fit(rollouts, order, phase)

    tr._fit = fit
    hist = tr.train()
    assert len(hist) == 3 and len(fits) == 2 * len(tr.loss.opponents)
    P = tr.game.P_aug
    for k, (phase, rolls) in enumerate(fits):
        t = k // len(tr.loss.opponents)
        pi = np.asarray(hist[t]["pi"]) if phase == 0 else halves[t]
        for ctx, (_, g, _, texts) in rolls.items():
            Pc = P[ctx] if P.ndim == 3 else P
            by_hand = [Pc[tr.game.parse(x)] @ pi[ctx] for x in texts]
            np.testing.assert_allclose(g.numpy(), by_hand, atol=1e-9)
    for h in hist:
        assert h["duality_gap"] == pytest.approx(float(np.mean(duality_gap(P, np.asarray(h["pi"])))), abs=1e-12)


def test_exact_feedback_mnpo_averages_over_the_history_iterates():
    """mnpo's opponents are π_t and π_{t−1}: exact ĝ is the mean of P⁺[a(y)] · π over the two recorded iterates."""
    from nashlab.llm_bridge.trainer import _Rollout

    tr = tiny_run("mnpo", feedback="exact", iterations=2, solver_options={"num_players": 3})
    tr.train()
    texts = ["rock", "paper", "hello"]
    r = _Rollout(1, [[0]] * 3, texts)
    P = tr.game.P_aug
    P = P[1] if P.ndim == 3 else P
    pis = [np.asarray(tr.history[s]["pi"])[1] for s in (2, 1)]
    by_hand = [np.mean([P[tr.game.parse(x)] @ pi for pi in pis]) for x in texts]
    terms = tr.loss.opponents[0]
    assert terms == (("t", 0.5), ("past:1", 0.5))  # the other players: π_t and π_{t−1}, equally weighted
    np.testing.assert_allclose(tr._phase_win_rates([r], terms, phase=0)[0].numpy(), by_hand, atol=1e-12)


def test_exact_feedback_refusals():
    with pytest.raises(ValueError, match="mixture"):
        tiny_run("nash-md", feedback="exact")
    with pytest.raises(ValueError, match="feedback"):
        TrainConfig(feedback="noisy")
    from nashlab.llm_bridge.judges import KnownNashJudge
    from nashlab.llm_bridge.language_game import cyclic_language_game
    from nashlab.llm_bridge.trainer import OnlineTrainer

    tr = tiny_run("inpo")
    other_game, _ = cyclic_language_game(3, 4, beta=0.05)
    with pytest.raises(ValueError, match="known-Nash judge of the trained game"):
        OnlineTrainer(tr.policy, KnownNashJudge(other_game), tr.game, TrainConfig(feedback="exact", bf16="no"))


def test_resume_after_a_kill_between_checkpoints_keeps_one_row_per_iteration(tmp_path):
    """Killed after iteration 3 with the last checkpoint at 2: the resumed run redoes iteration 3, and metrics.csv
    ends with one row per iteration, equal to an uninterrupted run's."""
    def rows(path):
        with open(path) as f:
            return [{k: v for k, v in r.items() if not k.startswith("seconds") and k != "tokens_per_second"}
                    for r in csv.DictReader(f)]

    tiny_run("inpo", out_dir=str(tmp_path / "full"), iterations=4, checkpoint_every=2).train()
    tiny_run("inpo", out_dir=str(tmp_path / "cut"), iterations=4, checkpoint_every=2).train(stop_after=3)
    assert [r["iteration"] for r in rows(tmp_path / "cut" / "metrics.csv")] == ["0", "1", "2", "3"]
    tiny_run("inpo", out_dir=str(tmp_path / "cut"), iterations=4, checkpoint_every=2).train(resume=True)
    assert rows(tmp_path / "cut" / "metrics.csv") == rows(tmp_path / "full" / "metrics.csv")
    assert [r["iteration"] for r in rows(tmp_path / "cut" / "metrics.csv")] == ["0", "1", "2", "3", "4"]
