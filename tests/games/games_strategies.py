"""Hypothesis strategies drawing games from every generator (``GENERATOR_PARAMS`` must cover ``GENERATORS``)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from nashlab.games import GENERATORS, PreferenceGame, make_matrix

seeds = st.integers(0, 2**16)
unit = st.floats(0.05, 1.0)

#: Valid parameters for each generator, except n (drawn separately). A test checks the keys equal GENERATORS.
GENERATOR_PARAMS = {
    "cyclic": st.fixed_dictionaries({"margin": unit}),
    "skew": st.fixed_dictionaries({"scale": unit, "seed": seeds}),
    "egpo": st.fixed_dictionaries({"seed": seeds}),
    "hodge": st.fixed_dictionaries({"cyclic": st.floats(0.0, 1.0), "scale": unit, "seed": seeds}),
    "bt": st.fixed_dictionaries({"spread": st.floats(0.1, 5.0), "seed": seeds}),
    "annotators": st.fixed_dictionaries({
        "raters": st.integers(1, 5), "spread": st.floats(0.5, 10.0), "concentration": st.floats(0.5, 50.0),
        "rotation": st.floats(0.0, 1.0), "seed": seeds,
    }),
    "embedding": st.fixed_dictionaries({"dim": st.sampled_from([2, 4, 6]), "scale": st.floats(0.1, 5.0), "seed": seeds}),
}


@st.composite
def game_specs(draw, min_n: int = 1, max_n: int = 12, names=None):
    """``(name, params)`` with ``params`` including ``n``."""
    name = draw(st.sampled_from(sorted(GENERATORS) if names is None else list(names)))
    params = dict(draw(GENERATOR_PARAMS[name]))
    params["n"] = draw(st.integers(min_n, max_n))
    return name, params


@st.composite
def matrices(draw, min_n: int = 1, max_n: int = 12, names=None):
    """A preference matrix ``[n, n]`` from a random generator with random valid parameters."""
    name, params = draw(game_specs(min_n, max_n, names))
    return make_matrix(name, **params)


@st.composite
def ref_policies(draw, n: int):
    """A full-support reference policy: uniform or ``softmax(σ z)``."""
    if draw(st.booleans()):
        return np.full(n, 1.0 / n)
    z = np.random.default_rng(draw(seeds)).normal(size=n)
    logits = draw(st.floats(0.0, 2.0)) * z
    e = np.exp(logits - logits.max())
    return e / e.sum()


@st.composite
def policies(draw, n: int, full_support: bool = False):
    """A random policy on the simplex: Dirichlet with a drawn concentration, optionally with zeroed entries."""
    rng = np.random.default_rng(draw(seeds))
    pi = rng.dirichlet(np.full(n, draw(st.sampled_from([0.1, 1.0, 10.0]))))
    if not full_support and n > 1 and draw(st.booleans()):
        pi[rng.random(n) < 0.3] = 0.0
        if pi.sum() == 0:
            pi[0] = 1.0
    pi = np.clip(pi, 1e-300 if full_support else 0.0, None)
    return pi / pi.sum()


def describe(P: np.ndarray) -> str:
    return np.array2string(np.asarray(P), precision=17, max_line_width=200)


__all__ = ["GENERATOR_PARAMS", "PreferenceGame", "describe", "game_specs", "matrices", "policies", "ref_policies"]
