"""MNPO — multiplayer Nash preference optimisation, theory form (Wu et al., arXiv 2509.23102 v3, Eq. 10 / Eq. 19).

N players share the pairwise preference P; player i maximises ``(1/(N−1)) Σ_{j≠i} P(π_i ≻ π_j) − β KL(π_i‖π_ref)``.
The theoretical update is OMD towards the geometric mean of the opponents:

    π_i' ∝ (Π_{j≠i} π_j)^{1/(N−1)} exp((η/(N−1)) Σ_{j≠i} Pπ_j)

i.e. ``ℓ_i' = mean_{j≠i} ℓ_j + η · mean_{j≠i} Pπ_j``. Symbols: ``ℓ_j = log π_j`` (``log_pi[..., j, :]``), η
(``eta``; Eq. 10 multiplies P by η: the same η; the code's ``eta`` is its inverse, η = 1/``eta``), N
(``num_players``). **No π_ref term**: β is recorded for metrics only. When all players coincide (π_j = π for all j) the
update is Hedge, ``ℓ' = ℓ + η Pπ``, on the common policy (``tests/solvers/test_solvers_faithful.py::test_mnpo_reduces_to_hedge``).
The players may start at different policies (``log_pi0 [..., N, n]``): the disagreement
``d_i = ℓ_i − mean_j ℓ_j`` then obeys ``d_i' = −d_i/(N−1) + η(r_i − r̄)``, so it contracts by ``1/(N−1)`` per step up
to an O(η) term (derived).

* Step-size condition: any ``η > 0``; ``2 ≤ num_players ≤ 1024`` (:data:`~.core.MAX_PLAYERS`).
* Claim (average iterate; MNPO's no-regret argument, Freund & Schapire): with ``η ∝ 1/√T`` the multiplayer duality gap
  of the average profile (β = 0) falls as O(1/√T), for N = 3, 4 from distinct seeded initial policies —
  ``tests/solvers/test_solvers_rates.py::test_mnpo_average_gap_rate``. No last-iterate claim.
* Defaults: ``η = 0.1``, ``num_players = 3``.

>>> from nashlab.solvers import make_solver
>>> make_solver("mnpo", num_players=4).hparams
{'eta': 0.1, 'beta': 0.0, 'num_players': 4}
"""

from __future__ import annotations

import math

from .rule import Claim, Phase, Rule, anchor, opponent, players_option

RULE = Rule(
    name="mnpo",
    update="π_i' ∝ (Π_{j≠i} π_j)^{1/(N−1)} exp((η/(N−1)) Σ_{j≠i} Pπ_j)",
    fixed_point="none claimed (average profile → a Nash profile)",
    paper="Wu et al., arXiv 2509.23102",
    phases=(Phase(anchors=(anchor("others", 1.0),), step=lambda hp: hp["eta"], opponents=(opponent("others"),)),),
    claim=Claim("multiplayer-average", "the multiplayer duality gap of the average profile ≤ 2D/(η(T+1)) + η/4, "
                "D = max log 1/π_0 over players and actions (derived: the players' mean log-policy runs Hedge on the "
                "mean win rate)",
                bound=lambda hp, D, T: 2 * D / (hp["eta"] * (T + 1)) + hp["eta"] / 4),
    eta_default=0.1, beta_default=0.0, beta_used=False,
    options=(players_option(3),), players="num_players",
)
