"""Game and reference-policy specs: the strings the CLI, configs and experiments use to name a game.

One registry, :data:`SPEC_KINDS`, lists every form a game spec can take; :func:`parse_game_spec` dispatches on it and
:func:`parse_ref_spec` builds a reference policy. Every malformed spec raises a ``ValueError`` naming the problem
(a missing file raises ``FileNotFoundError`` with its path), so ``nashlab`` can print one line and exit.

Game specs (``nashlab games`` lists the generators and their parameters):

==========================  ==========================================================================================
``NAME:k=v,...``            a generator of :data:`~nashlab.games.generators.GENERATORS`, e.g. ``cyclic:n=5``,
                            ``egpo:n=10,seed=3``, ``hodge:n=20,cyclic=0.7,seed=0``; ``NAME`` alone uses the defaults.
                            Values are parsed as int, float or bool (``true``/``false``) and coerced to the type of
                            the parameter's default.
``contextual:k=v,...``      a :class:`~nashlab.games.contextual.ContextualGame` from
                            :func:`~nashlab.games.contextual.contextual_embedding`.
``openspiel:NAME``          a symmetric constant-sum OpenSpiel matrix game (``openspiel:matrix_rps``), see
                            :mod:`nashlab.games.openspiel_interop`.
``PATH.npy|.json|.csv``     a matrix ``[n, n]`` (or a batch ``[B, n, n]`` for .npy/.json) on disk (a float32 .npy
                            is symmetrised to float64 when ``P + Pᵀ = 1`` holds to float32 precision); a .json file holds
                            a nested list or an object ``{"P": ..., "pi_ref": ..., "beta": ...}`` (the last two
                            optional); a .csv file holds one row per line, comma-separated, ``#`` comments allowed.
                            ``file:PATH`` forces a path.
``data:NAME``, ``counts:``  measured data: a bundled dataset, pairwise counts, PrefLib ballots (``.soc/.soi/.toi``)
``scores:``, ``PATH.soi``   or a score table; see :mod:`nashlab.games.datasets`.
==========================  ==========================================================================================

Reference specs: ``uniform`` (the default), ``random:seed=S[,scale=σ]`` (``π_ref = softmax(σ·z)``, ``z ~ N(0, I)``,
σ = 1 by default, as in the EGPO simulations), or a path to a ``.npy`` / ``.json`` / ``.csv`` vector.

>>> parse_game_spec("cyclic:n=3").P.tolist()
[[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]]
>>> parse_ref_spec("uniform", 4).tolist()
[0.25, 0.25, 0.25, 0.25]
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .contextual import ContextualGame, contextual_embedding
from .datasets import load_real_data
from .generators import GENERATORS, generator_params
from .nash import MAX_EXACT_N
from .preference import PreferenceGame, validate_beta, validate_policy, validate_seed

#: File suffixes read as matrices / vectors.
FILE_SUFFIXES = (".npy", ".json", ".csv")
#: Largest ``n`` (and ``n × contexts``) a spec may ask a generator for: the largest game whose exact equilibrium
#: nashlab computes (every command that builds a game also computes its reference), refused before the matrix is built
#: (a 12,000-action generator alone took 30 s before the solver refused it).
MAX_ACTIONS = MAX_EXACT_N


@dataclass(frozen=True)
class SpecKind:
    """One form of game spec: its syntax, an example and the function that builds the game from the text after the
    ``prefix:`` (the whole spec for files)."""

    kind: str
    syntax: str
    example: str
    help: str
    build: Callable[[str, str], object]


# --------------------------------------------------------------------------------------------------------------------
# key=value lists


def _parse_scalar(text: str):
    """``"3"`` → 3, ``"0.5"``/``"1e-3"`` → float, ``"true"``/``"false"`` → bool, anything else stays a string."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(low)
    except ValueError:
        pass
    try:
        return float(low)
    except ValueError:
        return text.strip()


def parse_params(text: str, *, what: str = "spec") -> dict[str, object]:
    """Parse ``"k=v,k2=v2"`` into a dict of scalars (see :func:`_parse_scalar`); empty text gives ``{}``.

    Raises:
        ValueError: an item without ``=``, an empty key, or a repeated key.

    >>> parse_params("n=5,cyclic=0.7,exact=true")
    {'n': 5, 'cyclic': 0.7, 'exact': True}
    """
    out: dict[str, object] = {}
    if not text.strip():
        return out
    for item in text.split(","):
        if "=" not in item:
            raise ValueError(f"malformed {what} parameter {item.strip()!r}: expected key=value (e.g. n=5)")
        key, value = (s.strip() for s in item.split("=", 1))
        if not key:
            raise ValueError(f"malformed {what} parameter {item.strip()!r}: empty key")
        if key in out:
            raise ValueError(f"{what} parameter {key!r} given twice")
        out[key] = _parse_scalar(value)
    return out


def _coerce(name: str, key: str, value, default):
    """Coerce a parsed value to the type of the parameter's default (an int default accepts ``3`` or ``3.0``)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"parameter {key} of {name!r} must be true or false; got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value == int(value))
        ):
            raise ValueError(f"parameter {key} of {name!r} must be an integer; got {value!r}")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"parameter {key} of {name!r} must be a number; got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"parameter {key} of {name!r} must be finite; got {value!r}")
        return float(value)
    return value


def resolve_params(name: str, valid: dict[str, object], text: str) -> dict[str, object]:
    """The parameters of spec ``name:text`` checked against ``valid`` (parameter → default): the one ``k=v`` grammar
    of generator and contextual specs, shared by the CLI's ``--game`` and the TOML game tables
    (:func:`nashlab.toml_config.game_table_spec`).

    Each value is parsed by :func:`parse_params` and coerced to its default's type; ``seed`` must lie in
    ``[0, 2**63)``; ``n ≤ MAX_ACTIONS`` and ``contexts · n² ≤ MAX_ACTIONS²``.

    Raises:
        ValueError: an unknown parameter (listing the valid ones with defaults), a value of the wrong type, a seed out
            of range or a game too large, naming the parameter.

    >>> resolve_params("cyclic", {"n": 3, "seed": 0}, "n=5.0")
    {'n': 5}
    """
    params = parse_params(text, what=f"{name!r}")
    unknown = sorted(set(params) - set(valid))
    if unknown:
        listing = ", ".join(f"{k}={v!r}" for k, v in valid.items())
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for {name!r}; valid (with defaults): {listing}")
    params = {k: _coerce(name, k, v, valid[k]) for k, v in params.items()}
    if "seed" in params:
        params["seed"] = validate_seed(params["seed"], name=f"parameter seed of {name!r}")
    n = params.get("n", valid.get("n", 1))
    contexts = params.get("contexts", valid.get("contexts", 1))
    if isinstance(n, int) and n > MAX_ACTIONS:
        raise ValueError(f"{name!r} asks for too large a game (n={n}); at most n={MAX_ACTIONS} actions")
    if isinstance(n, int) and isinstance(contexts, int) and n * n * contexts > MAX_ACTIONS**2:
        raise ValueError(
            f"{name!r} asks for too large a game (contexts × n² = {contexts * n * n:.3g} entries); "
            f"at most {MAX_ACTIONS ** 2:.3g}"
        )
    return params


def _canonical(name: str, params: dict[str, object]) -> str:
    return name + (":" + ",".join(f"{k}={v}" for k, v in params.items()) if params else "")


# --------------------------------------------------------------------------------------------------------------------
# builders


def _build_generator(name: str, rest: str) -> PreferenceGame:
    params = resolve_params(name, generator_params(name), rest)
    try:
        P = GENERATORS[name](**params)
    except MemoryError:
        raise ValueError(f"not enough memory to build {_canonical(name, params)!r}") from None
    except (TypeError, ArithmeticError) as exc:  # never a traceback for a spec typo
        raise ValueError(f"bad parameters for {_canonical(name, params)!r}: {exc}") from None
    return PreferenceGame(P, name=_canonical(name, params))


def contextual_params() -> dict[str, object]:
    """Parameters of a ``contextual:k=v,...`` spec with their defaults (those of
    :func:`~nashlab.games.contextual.contextual_embedding`)."""
    import inspect

    return {k: p.default for k, p in inspect.signature(contextual_embedding).parameters.items()}


def _build_contextual(name: str, rest: str) -> ContextualGame:
    params = resolve_params("contextual", contextual_params(), rest)
    try:
        return contextual_embedding(**params)
    except MemoryError:
        raise ValueError(f"not enough memory to build {_canonical('contextual', params)!r}") from None
    except (TypeError, ArithmeticError) as exc:
        raise ValueError(f"bad parameters for {_canonical('contextual', params)!r}: {exc}") from None


def _build_openspiel(name: str, rest: str) -> PreferenceGame:
    from .openspiel_interop import from_pyspiel

    if not rest.strip():
        raise ValueError("openspiel spec needs a game name, e.g. openspiel:matrix_rps")
    return from_pyspiel(rest.strip())


def _read_array(path: str) -> object:
    """Load a ``.npy`` / ``.json`` / ``.csv`` file into a float array, or (json) a dict with key ``P``.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: not a regular file, an unsupported suffix, or unreadable / malformed content (naming the problem).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if not os.path.isfile(path):
        raise ValueError(f"{path} is not a regular file")
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in FILE_SUFFIXES:
        raise ValueError(f"unsupported file type {suffix or '(none)'!r} for {path}; use one of {', '.join(FILE_SUFFIXES)}")
    try:
        if suffix == ".npy":
            with open(path, "rb") as fh:
                if fh.read(6) != b"\x93NUMPY":
                    raise ValueError("not a .npy file (no NumPy header); save the matrix with numpy.save")
                fh.seek(0)
                shape = _npy_shape(fh)
            if shape is not None and math.prod(shape) > MAX_ACTIONS**2:
                raise ValueError(f"its array of shape {shape} is larger than nashlab reads "
                                 f"(at most {MAX_ACTIONS ** 2:.3g} entries, e.g. {MAX_ACTIONS:,} × {MAX_ACTIONS:,})")
            try:
                arr = np.load(path, allow_pickle=False)
            except ValueError as exc:
                if "pickle" in str(exc):  # numpy's hint names an option nashlab deliberately never uses
                    raise ValueError("it holds an object array, not a numeric one") from None
                raise
            if not np.issubdtype(arr.dtype, np.number) and arr.dtype != np.bool_:
                raise ValueError(f"array of dtype {arr.dtype} is not numeric")
            if np.issubdtype(arr.dtype, np.complexfloating):
                raise ValueError(f"array of dtype {arr.dtype} is complex")
            return _from_low_precision(arr)
        if suffix == ".json":
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            return data
        rows = []
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                try:
                    rows.append([float(x) for x in line.replace(";", ",").split(",") if x.strip() != ""])
                except ValueError as exc:
                    raise ValueError(f"line {lineno}: {exc}") from None
        if not rows:
            raise ValueError("no numbers found")
        widths = {len(r) for r in rows}
        if len(widths) != 1:
            raise ValueError(f"rows have different lengths {sorted(widths)}")
        return np.array(rows, dtype=np.float64)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON in {path}: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except UnicodeDecodeError:
        raise ValueError(f"could not read {path}: not UTF-8 text") from None
    except ValueError as exc:
        raise ValueError(f"could not read {path} as a {suffix} matrix: {exc}") from None
    except (OSError, EOFError) as exc:  # corrupt .npy headers raise OSError/EOFError/UnpicklingError-like errors
        raise ValueError(f"could not read {path} as a {suffix} file: {exc}") from None
    except Exception as exc:  # e.g. pickle.UnpicklingError; a malformed file must never leak a traceback
        raise ValueError(f"could not read {path} as a {suffix} file: {type(exc).__name__}: {exc}") from None


def _npy_shape(fh) -> tuple[int, ...] | None:
    """The shape a .npy header declares (read before the data, so a forged header cannot make us allocate
    terabytes), or None when the header is unreadable (np.load then reports the problem)."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, _ = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, _ = np.lib.format.read_array_header_2_0(fh)
        return tuple(int(d) for d in shape)
    except Exception:  # any malformed header: leave the message to np.load
        return None


def _from_low_precision(arr: np.ndarray) -> np.ndarray:
    """float64 copy of a loaded array; a float16/float32 matrix that satisfies ``P + Pᵀ = 1`` to its own precision
    (``≤ 8·eps`` of its dtype, e.g. 9.5e-7 for float32) is symmetrised exactly, ``(P + 1 − Pᵀ)/2``, since it cannot
    meet :data:`~nashlab.games.preference.SKEW_TOL` = 1e-9. A larger violation is left for the validator to refuse."""
    out = np.asarray(arr, dtype=np.float64)
    if arr.dtype in (np.float16, np.float32) and out.ndim >= 2 and out.shape[-1] == out.shape[-2] and out.size:
        with np.errstate(invalid="ignore"):
            resid = np.abs(out + np.swapaxes(out, -1, -2) - 1.0)
        if np.all(np.isfinite(out)) and float(resid.max()) <= 8 * float(np.finfo(arr.dtype).eps):
            out = 0.5 * (out + 1.0 - np.swapaxes(out, -1, -2))
    return out


def _numeric(data, path: str, what: str) -> np.ndarray:
    try:
        arr = np.array(data, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} in {path} must be a numeric (nested) list of equal-length rows ({exc})") from None
    return arr


def _build_file(name: str, path: str) -> PreferenceGame:
    data = _read_array(path)
    pi_ref, beta = None, 0.0
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"P", "pi_ref", "beta", "name"})
        if "P" not in data:
            raise ValueError(f"JSON object in {path} must have a key 'P' (the matrix); got keys {sorted(data)}")
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(unknown)} in {path}; valid: P, pi_ref, beta, name")
        if data.get("pi_ref") is not None:
            pi_ref = _numeric(data["pi_ref"], path, "pi_ref")
        if data.get("beta") is not None:
            beta = validate_beta(data["beta"])
        P = _numeric(data["P"], path, "P")
    elif isinstance(data, np.ndarray):
        P = data
    else:
        P = _numeric(data, path, "the matrix")
    if P.ndim not in (2, 3):
        raise ValueError(f"the matrix in {path} must have shape [n, n] (or [B, n, n]); got shape {P.shape}")
    try:
        return PreferenceGame(P, pi_ref, beta, name=os.path.basename(path))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _is_path_like(spec: str) -> bool:
    return spec.lower().endswith(FILE_SUFFIXES) or os.sep in spec or "/" in spec


#: Every form of game spec, by prefix. Generators are looked up in GENERATORS; the others by their prefix.
SPEC_KINDS: dict[str, SpecKind] = {
    "generator": SpecKind(
        "generator", "NAME:k=v,...", "hodge:n=20,cyclic=0.7,seed=0",
        "a built-in generator (nashlab games lists them)", _build_generator,
    ),
    "contextual": SpecKind(
        "contextual", "contextual:k=v,...", "contextual:n=5,contexts=64,seed=0",
        "a contextual latent-embedding game, one matrix per context", _build_contextual,
    ),
    "openspiel": SpecKind(
        "openspiel", "openspiel:NAME", "openspiel:matrix_rps",
        "a symmetric constant-sum OpenSpiel matrix game", _build_openspiel,
    ),
    "file": SpecKind(
        "file", "PATH.npy | PATH.json | PATH.csv", "games/my_matrix.npy",
        "a preference matrix on disk ([n, n], or [B, n, n] for .npy/.json)", _build_file,
    ),
    # Measured data (nashlab.games.datasets parses these forms and refuses bad files).
    "data": SpecKind("data", "data:NAME", "data:soccer", "a bundled dataset (nashlab games lists them)",
                     lambda name, rest: load_real_data(f"{name}:{rest}").game),
    "counts": SpecKind("counts", "counts:PATH.csv[,prior=α]", "counts:my_counts.csv,prior=1",
                       "pairwise win counts, P = N/(N + Nᵀ)", lambda name, rest: load_real_data(f"{name}:{rest}").game),
    "preflib": SpecKind("preflib", "PATH.soc|.soi|.toi[,prior=α]", "ballots.soi",
                        "PrefLib ranked ballots → pairwise majority counts",
                        lambda name, rest: load_real_data(f"{name}:{rest}").game),
    "scores": SpecKind("scores", "scores:PATH", "scores:bot_table.txt",
                       "zero-sum score table ('i', 'j', score), P = ½ + (E − Eᵀ)/(4 max|E|)",
                       lambda name, rest: load_real_data(f"{name}:{rest}").game),
}


def parse_game_spec(spec) -> PreferenceGame | ContextualGame:
    """Build the game a spec names (see the module docstring for the forms).

    Args:
        spec: a spec string, or an already built :class:`PreferenceGame` / :class:`ContextualGame` (returned as is).

    Returns:
        a validated :class:`PreferenceGame` (``β`` = 0 and uniform ``π_ref`` unless a .json file sets them) or a
        :class:`ContextualGame`. Its ``name`` is the canonical spec (for generators) or the file name.

    Raises:
        ValueError: unknown generator (listing the valid ones), unknown or ill-typed parameter (listing the valid
            ones with defaults), malformed file content, or a matrix that is not a preference matrix (the
            :class:`PreferenceGame` message, prefixed with the path).
        FileNotFoundError: a path that does not exist (the message holds the path).

    >>> parse_game_spec("egpo:n=4,seed=1").name
    'egpo:n=4,seed=1'
    """
    if isinstance(spec, (PreferenceGame, ContextualGame)):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"a game spec must be a string; got {type(spec).__name__}")
    text = spec.strip()
    if not text:
        raise ValueError("empty game spec; e.g. cyclic:n=5, egpo:n=10,seed=3, openspiel:matrix_rps or a .npy path")
    real = load_real_data(text)  # data:NAME, counts:PATH, scores:PATH, PrefLib .soc/.soi/.toi
    if real is not None:
        return real.game
    if text.startswith("file:"):
        return _build_file("file", text[len("file:"):])
    if _is_path_like(text) or os.path.isfile(text):
        return _build_file("file", text)
    name, _, rest = text.partition(":")
    name = name.strip().lower()
    if name in GENERATORS:
        return _build_generator(name, rest)
    if name in SPEC_KINDS and name not in ("generator", "file"):
        return SPEC_KINDS[name].build(name, rest)
    raise ValueError(
        f"unknown game {name!r}; use a generator ({', '.join(GENERATORS)}) as NAME:k=v,..., "
        "contextual:k=v,..., openspiel:NAME, data:NAME, counts:PATH, scores:PATH, "
        "or a path to a .npy/.json/.csv matrix or .soc/.soi/.toi ballots"
    )


def parse_ref_spec(ref, n: int, batch_shape: tuple[int, ...] = ()) -> np.ndarray:
    """Build a reference policy ``π_ref`` from its spec.

    Args:
        ref: ``None`` or ``"uniform"``; ``"random:seed=S"`` or ``"random:seed=S,scale=σ"``
            (``π_ref = softmax(σ z)``, ``z ~ N(0, I)`` drawn with ``numpy.random.default_rng(S)``, σ = 1 by default,
            the EGPO simulations' random reference); a path to a ``.npy`` / ``.json`` / ``.csv`` vector; or an array.
        n: number of actions.
        batch_shape: leading axes for a batch of games (``random`` draws one policy per game; a file may hold
            ``[n]`` or ``[*batch_shape, n]``).

    Returns:
        ``[*batch_shape, n]`` float64, strictly positive, rows summing to 1.

    Raises:
        ValueError: unknown form, bad parameters, wrong length, negative or zero entries, mass ≠ 1, non-finite.
        FileNotFoundError: a missing path.

    >>> parse_ref_spec("random:seed=0", 3).round(3).tolist()
    [0.29, 0.224, 0.486]
    """
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"n must be an integer ≥ 1; got {n!r}")
    batch_shape = tuple(int(b) for b in batch_shape)
    shape = batch_shape + (int(n),)
    if ref is None or (isinstance(ref, str) and ref.strip().lower() == "uniform"):
        return np.full(shape, 1.0 / n)
    if not isinstance(ref, str):
        arr = validate_policy(ref, n, name="pi_ref")
    else:
        text = ref.strip()
        name, _, rest = text.partition(":")
        if name.lower() == "random" and not _is_path_like(text):
            params = resolve_params("random", {"seed": 0, "scale": 1.0}, rest)
            scale = params.get("scale", 1.0)
            if not scale >= 0:
                raise ValueError(f"parameter scale of 'random' must be ≥ 0; got {scale!r}")
            z = np.random.default_rng(params.get("seed", 0)).normal(size=shape)
            with np.errstate(over="ignore", invalid="ignore"):
                logits = scale * z
                e = np.exp(logits - logits.max(-1, keepdims=True))
                pi = e / e.sum(-1, keepdims=True)
            if not (np.isfinite(pi).all() and (pi > 0).all()):
                raise ValueError(f"parameter scale={scale:g} of 'random' is too large: softmax(scale·z) underflows, "
                                 f"giving actions probability 0 (π_ref needs full support); use a smaller scale")
            return pi
        if name.lower() == "uniform":
            raise ValueError(f"'uniform' takes no parameters; got {text!r}")
        if not (_is_path_like(text) or os.path.isfile(text)):
            raise ValueError(
                f"unknown reference policy {text!r}; use uniform, random:seed=S[,scale=σ] or a path to a .npy/.json/.csv vector"
            )
        data = _read_array(text)
        if isinstance(data, dict):
            if "pi_ref" not in data:
                raise ValueError(f"JSON object in {text} must have a key 'pi_ref'; got keys {sorted(data)}")
            data = data["pi_ref"]
        arr = _numeric(data, text, "pi_ref")
        if arr.ndim == 2 and arr.shape[0] == 1 and not batch_shape:
            arr = arr[0]  # a one-row CSV
        try:
            arr = validate_policy(arr, n, name="pi_ref")
        except ValueError as exc:
            raise ValueError(f"{text}: {exc}") from None
        if (arr <= 0).any():
            idx = tuple(int(i) for i in np.argwhere(arr <= 0)[0])
            raise ValueError(f"{text}: pi_ref must have full support (all entries > 0); "
                             f"pi_ref({', '.join(map(str, idx))}) = {arr[idx]:g}")
    if (arr <= 0).any():
        idx = tuple(int(i) for i in np.argwhere(arr <= 0)[0])
        raise ValueError(f"pi_ref must have full support (all entries > 0); pi_ref{idx} = {arr[idx]:g}")
    try:
        return np.broadcast_to(arr, shape).copy()
    except ValueError:
        raise ValueError(f"pi_ref of shape {arr.shape} does not fit games of batch shape {batch_shape}") from None


def describe_specs() -> list[dict[str, str]]:
    """The registry as plain dicts (kind, syntax, example, help), for ``nashlab games`` and docs."""
    return [{"kind": k.kind, "syntax": k.syntax, "example": k.example, "help": k.help} for k in SPEC_KINDS.values()]
