"""Neural policies for contextual games: an MLP from context features to logits, trained by the rule's loss.

    log π_θ(·|x) = log_softmax(ℓ_0(x) + f_θ(x)),   f_θ: features [C, d] -> [C, n], last layer zero-initialised

so π_θ starts exactly at π_0 (π_ref by default). Each outer iteration runs the rule's ``step`` with a ``prox`` that,
instead of the closed form ``log_softmax(a + c·g)``, restores θ to θ_t (and Adam's state: the EGPO code's
restore-and-step) and takes ``inner_steps`` Adam steps on the rule's loss (:func:`nashlab.solvers.core.mirror_loss`)
over all contexts and all pairs ``(y, y')`` (uniform full-support pair distribution, exact in expectation):

    L(θ) = (1/C) Σ_x (1/n²) Σ_{y, y'} (Δ log π_θ − Δ a − c · Δ g)²

whose minimiser over free logits is the closed-form step. Extragradient rules (EGPO, Nash-MP) thus evaluate the
opponent at the network's half step θ_½, then restart from θ_t.

Shapes: ``C`` contexts, ``d`` features, ``n`` actions.
"""

from __future__ import annotations

import copy
import math

import torch

from .core import Solver, SolverState, Tensor, mirror_loss


def make_mlp(d: int, n: int, hidden: int = 64, *, dtype=torch.float64, device="cpu", seed: int = 0) -> torch.nn.Module:
    """``d -> hidden -> hidden -> n`` with tanh activations; the output layer starts at zero (so f_θ = 0).

    The hidden layers get ``torch.nn.Linear``'s default initialisation, ``W, b ~ U(−1/√fan_in, 1/√fan_in)``
    (``kaiming_uniform_(a=√5)`` for ``W``), drawn on the CPU from a local ``torch.Generator`` seeded with ``seed``, in the
    order ``nn.Linear`` draws them: the same numbers as ``torch.manual_seed(seed)`` followed by building the layers, but
    the process's global RNG (CPU and CUDA) is neither read nor changed.
    """
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    layers = [torch.nn.utils.skip_init(torch.nn.Linear, a, b) for a, b in ((d, hidden), (hidden, hidden), (hidden, n))]
    with torch.no_grad():
        for layer in layers:
            torch.nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=gen)
            bound = 1 / math.sqrt(layer.in_features) if layer.in_features > 0 else 0.0
            torch.nn.init.uniform_(layer.bias, -bound, bound, generator=gen)
    net = torch.nn.Sequential(layers[0], torch.nn.Tanh(), layers[1], torch.nn.Tanh(), layers[2]).to(dtype=dtype,
                                                                                                     device=device)
    with torch.no_grad():
        net[-1].weight.zero_()
        net[-1].bias.zero_()
    return net


def pair_loss(log_pi_theta: Tensor, log_anchor: Tensor, c: float, g: Tensor) -> Tensor:
    """The rule's loss summed over every pair ``(y, y')`` of every context (uniform weights): calls ``mirror_loss``
    on ``[C, n, n]`` pairs with ``target = g(y) − g(y')``."""
    return mirror_loss(log_pi_theta[..., :, None], log_pi_theta[..., None, :], log_anchor[..., :, None],
                       log_anchor[..., None, :], g[..., :, None] - g[..., None, :], c)


class MLPDriver:
    """Runs a :class:`~nashlab.solvers.core.Solver` with an MLP policy.

    Args:
        rule: the solver.
        features: ``[C, d]`` context features.
        log_pi_ref: ``[C, n]``.
        n: actions.
        seed: initialisation seed.
        log_pi0: ``[C, n]`` starting policy (``None`` → π_ref); the network's base logits.
        hidden: width.
        inner_steps: Adam steps per prox (per half step).
        lr: Adam learning rate.

    Attributes:
        state: the current :class:`SolverState` (``log_pi`` is the network's output, detached).
        net: the network.
    """

    def __init__(self, rule: Solver, features: Tensor, log_pi_ref: Tensor, n: int, *, seed: int = 0,
                 log_pi0: Tensor | None = None, hidden: int = 64, inner_steps: int = 50, lr: float = 1e-2) -> None:
        if not (isinstance(inner_steps, int) and inner_steps >= 1):
            raise ValueError(f"inner_steps must be an integer ≥ 1; got {inner_steps!r}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0; got {lr!r}")
        self.rule = rule
        self.features = features
        self.base = (log_pi_ref if log_pi0 is None else log_pi0).detach()
        self.net = make_mlp(features.shape[-1], n, hidden, dtype=features.dtype, device=features.device, seed=seed)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.inner_steps = inner_steps
        self.state = rule.init(log_pi_ref, self.log_pi().detach())
        self._snapshot = None

    def log_pi(self) -> Tensor:
        """``log π_θ(·|x)`` for every context, ``[C, n]`` (differentiable)."""
        return torch.log_softmax(self.base + self.net(self.features), dim=-1)

    def prox(self, log_anchor: Tensor, c: float, g: Tensor) -> Tensor:
        """Realise ``log_softmax(a + c·g)`` by minimising the rule's loss from θ_t (restore-and-step)."""
        params, opt_state = self._snapshot
        self.net.load_state_dict(params)
        self.opt.load_state_dict(opt_state)
        a, g = log_anchor.detach(), g.detach()
        for _ in range(self.inner_steps):
            self.opt.zero_grad(set_to_none=True)
            loss = pair_loss(self.log_pi(), a, c, g)
            loss.backward()
            self.opt.step()
        with torch.no_grad():
            return self.log_pi()

    def step(self, state: SolverState, feedback) -> SolverState:
        """One outer iteration of the rule with the network as the policy."""
        self._snapshot = (copy.deepcopy(self.net.state_dict()), copy.deepcopy(self.opt.state_dict()))
        with torch.no_grad():
            current = self.log_pi()
        state = state._replace(log_pi=current)
        new = self.rule.step(state, feedback, prox=self.prox)
        self.state = new
        return new


__all__ = ["MLPDriver", "make_mlp", "pair_loss"]
