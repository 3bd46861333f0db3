"""OpenSpiel interop: a preference game as a ``pyspiel`` matrix game, and symmetric constant-sum matrix games back.

A preference game is the symmetric constant-sum game in which the row player picks ``y``, the column player ``y'``
and the row player wins with probability ``P[y, y']``: row utilities ``P``, column utilities ``Pᵀ = 1 − P``
(constant sum 1). Conversely a two-player matrix game with row utilities ``R`` and column utilities ``C`` is a
preference game exactly when it is

* symmetric: ``C = Rᵀ`` (the column player faces the same matrix), and
* constant-sum: ``R + C = c`` for one constant ``c`` (hence ``R + Rᵀ = c``),

and then ``P = ½ + (R − c/2) / (2 max|R − c/2|)`` (``P ≡ ½`` when ``R ≡ c/2``), except that a game that already is
a preference matrix (``c = 1``, ``0 ≤ R ≤ 1``) is kept as it is, so ``from_pyspiel(to_pyspiel(P)).P == P``. The map is a positive affine
transformation of the row player's payoff, so it keeps best responses, Nash equilibria and the sign of every gap
(gaps are rescaled by ``1 / (2 max|R − c/2|)``). ``matrix_rps``, ``matrix_rpsw`` and ``matrix_brps`` load;
``matrix_mp`` (zero-sum but not symmetric), ``matrix_pd``, ``matrix_bos``… are refused.

``pyspiel`` is imported lazily so that ``nashlab.games`` stays importable (and fast) without it.
"""

from __future__ import annotations

import numpy as np

from .preference import PreferenceGame

#: Tolerance on ``C = Rᵀ`` and on ``R + C`` being constant, relative to ``max(1, max|R|)``.
INTEROP_TOL = 1e-9


def _pyspiel():
    try:
        import pyspiel
    except ImportError as exc:  # pragma: no cover - the openspiel extra
        raise ValueError(f"OpenSpiel interop needs open_spiel (not installed: {exc}): pip install 'nashlab[openspiel]'") \
            from None
    return pyspiel


def to_pyspiel(game, action_names: list[str] | None = None):
    """A ``pyspiel.MatrixGame`` with row utilities ``P`` and column utilities ``Pᵀ`` (constant sum 1).

    Args:
        game: a single (unbatched) :class:`PreferenceGame` or a preference matrix ``[n, n]`` (validated).
        action_names: ``n`` names; ``"a0", "a1", …`` by default.

    Returns:
        ``pyspiel.MatrixGame`` whose ``row_utilities()`` equal ``P`` and ``col_utilities()`` equal ``Pᵀ``.

    Raises:
        ValueError: for a batch of games or a wrong number of action names.

    >>> g = to_pyspiel([[0.5, 0.8], [0.2, 0.5]])
    >>> g.num_rows(), g.row_utility(0, 1), g.col_utility(0, 1)
    (2, 0.8, 0.2)
    """
    if not isinstance(game, PreferenceGame):
        game = PreferenceGame(game)
    if game.batch_shape:
        raise ValueError(f"to_pyspiel converts one game at a time; got a batch of shape {game.batch_shape}")
    n = game.n
    names = [f"a{i}" for i in range(n)] if action_names is None else [str(a) for a in action_names]
    if len(names) != n:
        raise ValueError(f"action_names must have {n} entries (one per action); got {len(names)}")
    P = game.P
    return _pyspiel().create_matrix_game(
        "nashlab_preference", f"nashlab preference game {game.name}", names, names, P.tolist(), P.T.tolist()
    )


def _utilities(matrix_game):
    pyspiel = _pyspiel()
    if isinstance(matrix_game, str):
        base = matrix_game.split("(", 1)[0].strip()
        if base not in pyspiel.registered_names():
            # Checked first: pyspiel's own error lists all ~150 games on many lines and echoes to stderr.
            raise ValueError(
                f"unknown OpenSpiel game {matrix_game!r}; symmetric constant-sum matrix games: "
                f"{', '.join(loadable_openspiel_games())}"
            )
        try:
            matrix_game = pyspiel.load_game(matrix_game)
        except Exception as exc:  # pyspiel raises its own SpielError (a RuntimeError subclass) for unknown names
            raise ValueError(f"OpenSpiel could not load game {matrix_game!r}: {exc}") from None
    if not isinstance(matrix_game, pyspiel.MatrixGame):
        name = matrix_game.get_type().short_name if hasattr(matrix_game, "get_type") else type(matrix_game).__name__
        raise ValueError(f"OpenSpiel game {name!r} is not a two-player matrix game (pyspiel.MatrixGame)")
    R = np.array(matrix_game.row_utilities(), dtype=np.float64)
    C = np.array(matrix_game.col_utilities(), dtype=np.float64)
    return matrix_game, R, C


def from_pyspiel(matrix_game) -> PreferenceGame:
    """A symmetric constant-sum OpenSpiel matrix game as a :class:`PreferenceGame`.

    ``P = ½ + (R − c/2) / (2 max|R − c/2|)`` with ``c = R + Rᵀ`` (constant), or ``P = R`` when ``R`` already is a
    preference matrix; see the module docstring.

    Args:
        matrix_game: a ``pyspiel.MatrixGame`` or the name of a registered one (``"matrix_rps"``).

    Returns:
        a :class:`PreferenceGame` named ``openspiel:<short name>``.

    Raises:
        ValueError: naming the failed condition: not loadable, not a matrix game, not square, not symmetric
            (``C ≠ Rᵀ``), or not constant-sum (``R + C`` not constant).

    >>> from_pyspiel("matrix_rps").P.tolist()
    [[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]]
    """
    game, R, C = _utilities(matrix_game)
    name = game.get_type().short_name
    scale = max(1.0, float(np.abs(R).max(initial=0.0)), float(np.abs(C).max(initial=0.0)))
    if R.shape[0] != R.shape[1]:
        raise ValueError(f"OpenSpiel game {name!r} is not symmetric: {R.shape[0]} row actions vs {R.shape[1]} columns")
    asym = np.abs(C - R.T)
    if not asym.max(initial=0.0) <= INTEROP_TOL * scale:
        i, j = np.unravel_index(int(np.argmax(asym)), asym.shape)
        raise ValueError(
            f"OpenSpiel game {name!r} is not symmetric (column utilities ≠ row utilitiesᵀ): "
            f"col_utility({i}, {j}) = {C[i, j]:g} but row_utility({j}, {i}) = {R[j, i]:g}; only symmetric "
            "constant-sum games are preference games"
        )
    total = R + C
    c = float(total.mean())
    dev = np.abs(total - c)
    if not dev.max(initial=0.0) <= INTEROP_TOL * scale:
        i, j = np.unravel_index(int(np.argmax(dev)), dev.shape)
        raise ValueError(
            f"OpenSpiel game {name!r} is not constant-sum: row + column utility ranges over "
            f"[{total.min():g}, {total.max():g}] (e.g. {total[i, j]:g} at ({i}, {j})); only symmetric constant-sum "
            "games are preference games"
        )
    S = 0.5 * ((R - c / 2) - (R - c / 2).T)  # exactly skew: removes rounding in R + Rᵀ = c
    if abs(c - 1.0) <= INTEROP_TOL and R.min() >= 0.0 and R.max() <= 1.0:
        # Already a preference matrix (e.g. made by to_pyspiel): keep it, so that the round trip is the identity.
        P = 0.5 + S
    else:
        m = float(np.abs(S).max(initial=0.0))
        P = 0.5 + (S / (2.0 * m) if m > 0 else S)
    return PreferenceGame(P, name=f"openspiel:{name}")


def loadable_openspiel_games() -> list[str]:
    """Registered ``matrix_*`` OpenSpiel games that :func:`from_pyspiel` accepts (symmetric, constant-sum)."""
    pyspiel = _pyspiel()
    out = []
    for name in pyspiel.registered_names():
        if not name.startswith("matrix_"):
            continue
        try:
            from_pyspiel(name)
        except ValueError:
            continue
        out.append(name)
    return out
