"""n-player preference games built from a pairwise preference matrix (MNPO's setting).

Player ``i`` maximises ``J_i(π_i, π_{−i}) = (1/(N−1)) Σ_{j≠i} π_iᵀPπ_j − β KL(π_i‖π_ref)``. All players share ``P``,
so the game is symmetric and its symmetric equilibrium is the two-player ``π*_β`` (each player's best response to
``N−1`` copies of ``π`` is the best response to ``π``); for β = 0, a maximal lottery.
"""

from __future__ import annotations

from dataclasses import dataclass

from .preference import PreferenceGame


@dataclass(frozen=True, eq=False)
class MultiplayerGame:
    """``num_players`` players on the pairwise game ``game`` (``P``, ``π_ref``, ``β``).

    Raises:
        ValueError: if ``num_players < 2``.
    """

    game: PreferenceGame
    num_players: int = 3

    def __post_init__(self) -> None:
        if not (isinstance(self.num_players, int) and self.num_players >= 2):
            raise ValueError(f"num_players must be an integer ≥ 2; got {self.num_players!r}")

    @property
    def n(self) -> int:
        return self.game.n
