"""Preference games, their exact and regularised equilibria, and equilibrium metrics.

``games`` imports nothing of the other nashlab parts (docs/design.md §1: games <- solvers <- llm_bridge).
"""

from .contextual import ContextualGame, contextual_embedding
from .generators import GENERATORS, generator_params, make_matrix
from .metrics import (
    best_response_value,
    duality_gap,
    kl,
    kl_to_nash,
    multiplayer_duality_gap,
    reg_duality_gap,
    win_rates,
)
from .multiplayer import MultiplayerGame
from .nash import exact_nash, regularized_nash
from .oracle import PreferenceOracle
from .openspiel_interop import from_pyspiel, to_pyspiel
from .spec import SPEC_KINDS, parse_game_spec, parse_ref_spec
from .preference import SKEW_TOL, PreferenceGame, symmetrize, validate_beta, validate_policy, validate_preference_matrix

__all__ = [
    "GENERATORS", "SKEW_TOL", "SPEC_KINDS", "ContextualGame", "MultiplayerGame", "PreferenceGame", "PreferenceOracle",
    "best_response_value", "contextual_embedding", "duality_gap", "exact_nash", "from_pyspiel", "generator_params", "kl",
    "kl_to_nash", "make_matrix", "multiplayer_duality_gap", "parse_game_spec", "parse_ref_spec", "reg_duality_gap",
    "regularized_nash", "symmetrize", "to_pyspiel",
    "validate_beta", "validate_policy", "validate_preference_matrix", "win_rates",
]
