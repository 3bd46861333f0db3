"""Measured preference data as games: pairwise counts, PrefLib ballots, zero-sum score tables, bundled datasets.

Spec forms (handled by :func:`load_real_data`; ``nashlab games`` lists them and the bundled datasets):

===============================  =====================================================================================
``data:NAME[,k=v]``              a dataset bundled with nashlab (:data:`DATASETS`): ``data:soccer``,
                                 ``data:rrps_bots``, ``data:dublin_north``.
``counts:PATH[,prior=α]``        a CSV of pairwise counts (:func:`read_counts_csv`).
``PATH.soc|.soi|.toi[,prior=α]`` PrefLib ballots (:func:`read_preflib`); ``preflib:PATH`` forces the format.
``scores:PATH``                  a zero-sum score table, one ``i, j, score`` per line (:func:`read_score_table`).
===============================  =====================================================================================

Parameters follow the path after a comma: ``counts:my dir/n.csv,prior=1``. Only trailing ``key=value`` items are
parameters, so a path may itself hold commas (not ``=`` after a comma).

**Counts → P.** ``N[i, j]`` is the number of times i was preferred to j. ``P = N / (N + Nᵀ)`` off the diagonal, ½ on
it. A tie between i and j is entered as ½ in both ``N[i, j]`` and ``N[j, i]`` (so counts may be fractional); the
diagonal of ``N`` is ignored. A pair never compared (``N[i, j] + N[j, i] = 0``) has no estimate and is refused,
unless a pseudo-count prior ``α > 0`` is chosen: ``P = (N + α) / (N + Nᵀ + 2α)``, i.e. α imaginary wins each way
(α = 1 is Laplace's rule; an unplayed pair becomes ½).

Every loader refuses a bad file with one ``ValueError`` naming the file, the line and the problem. Nothing is
unpickled or executed: numbers go through ``float``, score-table tuples through :func:`ast.literal_eval`.
"""

from __future__ import annotations

import ast
import csv
import io
import math
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .preference import PreferenceGame

#: The bundled data files (package data of ``nashlab.games``); PROVENANCE.md there gives source, licence, citation.
DATA_DIR = Path(__file__).resolve().parent / "data"
#: PrefLib ballot formats: strict complete, strict incomplete, weak (ties) incomplete orders.
PREFLIB_SUFFIXES = (".soc", ".soi", ".toi")
#: Spec prefixes this module owns.
PREFIXES = ("data", "counts", "scores", "preflib")
#: Most items a file may define (as for generated games: a dense [n, n] float64 matrix of 20,000 items is 3.2 GB).
MAX_ITEMS = 20_000
#: Ballots × alternatives² booleans per step of the majority count (bounds its memory at any size).
_CHUNK = 1 << 24


def _check_items(n: int, path: str) -> None:
    if n > MAX_ITEMS:
        raise ValueError(f"{path}: too many items ({n}); at most {MAX_ITEMS}")


@dataclass(frozen=True, eq=False)
class Comparisons:
    """Pairwise comparison counts: ``wins[i, j]`` = how often item i was preferred to item j.

    Attributes:
        items: the item names, in matrix order.
        wins: ``[n, n]`` float64, non-negative; a tie counts ½ each way; the diagonal is ignored.
        prior: pseudo-count ``α ≥ 0`` added to both directions of every pair (needed when a pair was never compared).
        source: where the counts came from (a path or ``data:NAME``), for messages.
    """

    items: tuple[str, ...]
    wins: np.ndarray
    prior: float = 0.0
    source: str = "counts"

    def __post_init__(self) -> None:
        W = np.array(self.wins, dtype=np.float64)
        np.fill_diagonal(W, 0.0)
        W.setflags(write=False)
        object.__setattr__(self, "wins", W)

    @property
    def n(self) -> int:
        return self.wins.shape[0]

    def preference_matrix(self) -> np.ndarray:
        """``P = (N + α) / (N + Nᵀ + 2α)`` off the diagonal, ½ on it (see :func:`counts_to_preference`)."""
        return counts_to_preference(self.wins, self.prior, items=self.items, source=self.source)


def counts_to_preference(wins, prior: float = 0.0, *, items=None, source: str = "counts") -> np.ndarray:
    """``P[i, j] = (N[i, j] + α) / (N[i, j] + N[j, i] + 2α)`` for ``i ≠ j``, ``P[i, i] = ½``.

    Raises:
        ValueError: a negative or non-finite count, a negative prior, or a pair with ``N[i, j] + N[j, i] = 0`` when
            ``α = 0`` (naming the pair and the ``prior=`` flag that would accept it).
    """
    N = np.array(wins, dtype=np.float64)
    if N.ndim != 2 or N.shape[0] != N.shape[1]:
        raise ValueError(f"{source}: the count matrix must be square; got shape {N.shape}")
    if not (isinstance(prior, (int, float)) and math.isfinite(prior) and prior >= 0):
        raise ValueError(f"{source}: prior must be a finite number ≥ 0; got {prior!r}")
    if not np.isfinite(N).all():
        raise ValueError(f"{source}: counts must be finite")
    if (N < 0).any():
        i, j = np.argwhere(N < 0)[0]
        raise ValueError(f"{source}: negative count N[{_label(items, i)}, {_label(items, j)}] = {N[i, j]:g}")
    np.fill_diagonal(N, 0.0)
    total = N + N.T + 2.0 * prior
    off = ~np.eye(N.shape[0], dtype=bool)
    never = (total <= 0) & off
    if never.any():
        i, j = np.argwhere(never)[0]
        raise ValueError(
            f"{source}: the pair ({_label(items, i)}, {_label(items, j)}) was never compared "
            f"({int(never.sum()) // 2} such pairs); add a pseudo-count prior, e.g. prior=1, to set them to ½"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        P = np.where(off, (N + prior) / np.where(off, total, 1.0), 0.5)
    return 0.5 * (P + 1.0 - P.T)  # exact P + Pᵀ = 1 despite rounding


def _label(items, i) -> str:
    return repr(items[int(i)]) if items is not None else str(int(i))


# --------------------------------------------------------------------------------------------------------------------
# file readers (cached by path, size and modification time: a sweep builds the same game for every task)


def _check_file(path: str) -> os.stat_result:
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if not os.path.isfile(path):
        raise ValueError(f"{path} is not a regular file")
    return os.stat(path)


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8-sig") as fh:  # a spreadsheet's byte-order mark is not part of a name
            return fh.read()
    except UnicodeDecodeError:
        raise ValueError(f"could not read {path}: not UTF-8 text") from None
    except OSError as exc:
        raise ValueError(f"could not read {path}: {exc}") from None


def _cached(reader):
    cache = lru_cache(maxsize=32)(lambda path, _mtime, _size: reader(path))

    def read(path: str):
        st = _check_file(path)
        return cache(os.path.realpath(path), st.st_mtime_ns, st.st_size)

    read.__doc__ = reader.__doc__
    read.__name__ = reader.__name__
    return read


def _number(text: str, path: str, lineno: int, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}: line {lineno}: {what} {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{path}: line {lineno}: {what} {text.strip()!r} is not finite")
    return value


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


@_cached
def read_counts_csv(path: str) -> tuple[tuple[str, ...], np.ndarray]:
    """Read a pairwise count matrix from CSV: ``(items, N)``.

    Format: a header row of item names whose first cell is empty, then one row per item, in the header's order: its
    name, then ``N[i, j]`` for every j. Blank lines and lines starting with ``#`` are skipped. Counts are
    non-negative numbers (fractional allowed: a tie is ½ each way).

    Raises:
        ValueError: naming the file, the line and the problem: no header, an empty or repeated name, a row of the
            wrong length or name (the matrix is not square), text where a number belongs, a negative count.
    """
    text = _read_text(path)
    lines = [(k, line) for k, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise ValueError(f"{path}: empty counts file; expected a header row ',name1,name2,...' and one row per item")
    try:
        rows = [(k, next(csv.reader(io.StringIO(line), skipinitialspace=True))) for k, line in lines]
    except csv.Error as exc:
        raise ValueError(f"{path}: malformed CSV: {exc}") from None
    (k0, header), body = rows[0], rows[1:]
    if header[0].strip():
        raise ValueError(f"{path}: line {k0}: the header's first cell must be empty (',name1,name2,...'); "
                         f"got {header[0]!r}")
    items = tuple(h.strip() for h in header[1:])
    if not items:
        raise ValueError(f"{path}: line {k0}: the header names no item")
    if any(not name for name in items):
        raise ValueError(f"{path}: line {k0}: an item name is empty")
    if len(set(items)) != len(items):
        dup = next(x for x in items if items.count(x) > 1)
        raise ValueError(f"{path}: line {k0}: item {dup!r} is named twice")
    n = len(items)
    _check_items(n, path)
    if len(body) != n:
        raise ValueError(f"{path}: the matrix is not square: {n} items in the header but {len(body)} rows")
    N = np.zeros((n, n))
    for i, (k, row) in enumerate(body):
        if len(row) != n + 1:
            raise ValueError(f"{path}: line {k}: the matrix is not square: {len(row) - 1} counts for {n} items")
        if row[0].strip() != items[i]:
            raise ValueError(f"{path}: line {k}: row {i + 1} is named {row[0].strip()!r}, expected {items[i]!r} "
                             "(rows must follow the header's order)")
        for j, cell in enumerate(row[1:]):
            N[i, j] = _number(cell, path, k, "count")
            if N[i, j] < 0:
                raise ValueError(f"{path}: line {k}: negative count N[{items[i]!r}, {items[j]!r}] = {N[i, j]:g}")
    return items, _readonly(N)


def write_counts_csv(path: str | os.PathLike, items, wins) -> None:
    """Write ``(items, N)`` in the format :func:`read_counts_csv` reads (``%.17g``: the counts round-trip exactly)."""
    W = np.asarray(wins, dtype=np.float64)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow([""] + list(items))
        for name, row in zip(items, W):
            out.writerow([name] + [f"{x:.17g}" for x in row])


_PREFLIB_META = re.compile(r"#\s*([A-Z][A-Z ]*[A-Z])\s*:\s?(.*)$")
_PREFLIB_NAME = re.compile(r"#\s*ALTERNATIVE NAME (\d+)\s*:\s?(.*)$")


@_cached
def read_preflib(path: str) -> tuple[tuple[str, ...], np.ndarray]:
    """Pairwise majority counts ``(items, N)`` from PrefLib ballots (``.soc``, ``.soi``, ``.toi``; PrefLib's format
    since 2022: ``# KEY: value`` header lines, then ``multiplicity: ranking`` lines).

    A ranking lists alternatives (1-based) from best to worst, comma-separated; in ``.toi`` files ``{a,b}`` is a tie
    group. A ranked alternative beats every lower-ranked and every unranked one; tied and unranked pairs give no vote.
    So, with ``r_b(i)`` the position of i's group on ballot b (unranked: after all groups) and ``c_b`` its
    multiplicity, ``N[i, j] = Σ_b c_b·[r_b(i) < r_b(j)]``, computed as one array product over the unique ballots.

    Raises:
        ValueError: naming the file, the line and the problem: a missing ``NUMBER ALTERNATIVES`` header (e.g. the
            pre-2022 format), a data type that does not match the suffix, a line without ``count:``, a non-positive
            or non-integer multiplicity, an alternative out of range or ranked twice, a tie in a strict format, an
            incomplete ballot in ``.soc``, unbalanced braces, or a voter total that contradicts ``NUMBER VOTERS``.
    """
    text = _read_text(path)
    suffix = os.path.splitext(path)[1].lower()
    kind = suffix[1:] if suffix in PREFLIB_SUFFIXES else None
    meta: dict[str, str] = {}
    names: dict[int, str] = {}
    ballots: list[tuple[int, int, str]] = []
    for k, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            m = _PREFLIB_META.match(line)
            if m:
                meta[m.group(1)] = m.group(2).strip()
            m = _PREFLIB_NAME.match(line)
            if m:
                names[int(m.group(1))] = m.group(2).strip()
            continue
        count, sep, ranking = line.partition(":")
        if not sep:
            raise ValueError(f"{path}: line {k}: expected 'multiplicity: ranking' (e.g. '12: 3,1,2'); "
                             f"got {line[:60]!r}")
        try:
            c = int(count)
        except ValueError:
            raise ValueError(f"{path}: line {k}: multiplicity {count.strip()!r} is not an integer") from None
        if c <= 0:
            raise ValueError(f"{path}: line {k}: multiplicity must be a positive integer; got {c}")
        ballots.append((k, c, ranking))
    if "NUMBER ALTERNATIVES" not in meta:
        raise ValueError(f"{path}: not a PrefLib file: no '# NUMBER ALTERNATIVES: m' header line "
                         "(only PrefLib's current format, with '# KEY: value' headers, is read)")
    try:
        m_alt = int(meta["NUMBER ALTERNATIVES"])
    except ValueError:
        raise ValueError(f"{path}: NUMBER ALTERNATIVES {meta['NUMBER ALTERNATIVES']!r} is not an integer") from None
    if m_alt < 1:
        raise ValueError(f"{path}: NUMBER ALTERNATIVES must be ≥ 1; got {m_alt}")
    _check_items(m_alt, path)
    declared = meta.get("DATA TYPE", "").strip().lower()
    if kind is None:
        kind = declared
    if kind not in ("soc", "soi", "toi"):
        raise ValueError(f"{path}: unknown PrefLib data type {kind or '(none)'!r}; nashlab reads soc, soi and toi")
    if declared and declared != kind:
        raise ValueError(f"{path}: the header says DATA TYPE {declared!r} but the file is named .{kind}")
    if not ballots:
        raise ValueError(f"{path}: no ballots (lines 'multiplicity: ranking') after the header")
    bad_names = sorted(i for i in names if not 1 <= i <= m_alt)
    if bad_names:
        raise ValueError(f"{path}: ALTERNATIVE NAME {bad_names[0]} is out of range 1..{m_alt}")
    items = tuple(names.get(i, str(i)) for i in range(1, m_alt + 1))

    unranked = m_alt  # a position after every possible group
    R = np.full((len(ballots), m_alt), unranked, dtype=np.int32)
    counts = np.empty(len(ballots), dtype=np.float64)
    for b, (k, c, ranking) in enumerate(ballots):
        counts[b] = c
        row = R[b]
        pos, seen, depth = 0, 0, 0
        for token in re.findall(r"[{}]|[^{},]+|,", ranking):
            if token == "{":
                if depth:
                    raise ValueError(f"{path}: line {k}: nested '{{'")
                if kind != "toi":
                    raise ValueError(f"{path}: line {k}: a tie '{{...}}' in a strict-order .{kind} file")
                depth = 1
            elif token == "}":
                if not depth:
                    raise ValueError(f"{path}: line {k}: '}}' without '{{'")
                depth = 0
                pos += 1
            elif token == ",":
                continue
            else:
                t = token.strip()
                if not t:
                    continue
                try:
                    a = int(t)
                except ValueError:
                    raise ValueError(f"{path}: line {k}: alternative {t!r} is not an integer") from None
                if not 1 <= a <= m_alt:
                    raise ValueError(f"{path}: line {k}: alternative {a} is out of range 1..{m_alt}")
                if row[a - 1] != unranked:
                    raise ValueError(f"{path}: line {k}: alternative {a} is ranked twice")
                row[a - 1] = pos
                seen += 1
                if not depth:
                    pos += 1
        if depth:
            raise ValueError(f"{path}: line {k}: '{{' without '}}'")
        if seen == 0:
            raise ValueError(f"{path}: line {k}: an empty ranking")
        if kind == "soc" and seen != m_alt:
            raise ValueError(f"{path}: line {k}: a .soc ballot must rank all {m_alt} alternatives; it ranks {seen}")
    if "NUMBER VOTERS" in meta:
        try:
            voters = int(meta["NUMBER VOTERS"])
        except ValueError:
            raise ValueError(f"{path}: NUMBER VOTERS {meta['NUMBER VOTERS']!r} is not an integer") from None
        if voters != int(counts.sum()):
            raise ValueError(f"{path}: NUMBER VOTERS says {voters} but the multiplicities sum to {int(counts.sum())}")
    N = np.zeros((m_alt, m_alt))
    step = max(1, _CHUNK // (m_alt * m_alt))
    for lo in range(0, len(ballots), step):
        r, c = R[lo:lo + step], counts[lo:lo + step]
        N += np.einsum("b,bij->ij", c, (r[:, :, None] < r[:, None, :]).astype(np.float64))
    return items, _readonly(N)


_SCORE_LINE = re.compile(r"^\s*(?P<a>[^,]+?)\s*,\s*(?P<b>[^,]+?)\s*,\s*(?P<s>[^,]+?)\s*$")


@_cached
def read_score_table(path: str) -> tuple[tuple[str, ...], np.ndarray]:
    """Read a zero-sum score table: ``(items, E)`` with ``E[i, j]`` = mean score of i against j.

    One pair per line, either a Python tuple literal ``('botA', 'botB', 12.5)`` (parsed by :func:`ast.literal_eval`,
    which evaluates literals only, never code) or ``botA, botB, 12.5``. Items are numbered in order of first
    appearance. Self-pairs (``botA`` vs ``botA``) are ignored; a pair given in one direction only gets
    ``E[j, i] = −E[i, j]`` (zero-sum). Blank and ``#`` lines are skipped.

    Raises:
        ValueError: naming the file and line: a malformed line, a score that is not a finite number, a pair given
            twice, or a pair of items never scored in either direction.
    """
    text = _read_text(path)
    index: dict[str, int] = {}
    entries: dict[tuple[int, int], float] = {}
    for k, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("("):
            try:
                value = ast.literal_eval(line)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                raise ValueError(f"{path}: line {k}: not a tuple literal ('i', 'j', score): {line[:60]!r}") from None
            if not (isinstance(value, tuple) and len(value) == 3 and isinstance(value[0], str)
                    and isinstance(value[1], str)):
                raise ValueError(f"{path}: line {k}: expected ('i', 'j', score); got {line[:60]!r}")
            a, b, s = value
            if isinstance(s, bool) or not isinstance(s, (int, float)):
                raise ValueError(f"{path}: line {k}: score {s!r} is not a number")
            s = float(s)
            if not math.isfinite(s):
                raise ValueError(f"{path}: line {k}: score {s!r} is not finite")
        else:
            m = _SCORE_LINE.match(line)
            if not m:
                raise ValueError(f"{path}: line {k}: expected 'i, j, score'; got {line[:60]!r}")
            a, b = m.group("a").strip("'\" "), m.group("b").strip("'\" ")
            s = _number(m.group("s"), path, k, "score")
        a, b = a.strip(), b.strip()
        if not a or not b:
            raise ValueError(f"{path}: line {k}: an empty item name")
        i = index.setdefault(a, len(index))
        j = index.setdefault(b, len(index))
        if (i, j) in entries:
            raise ValueError(f"{path}: line {k}: the pair ({a!r}, {b!r}) is given twice")
        entries[(i, j)] = s
    if not index:
        raise ValueError(f"{path}: empty score table; expected lines ('i', 'j', score) or i, j, score")
    items = tuple(index)
    n = len(items)
    _check_items(n, path)
    E = np.zeros((n, n))
    have = np.zeros((n, n), dtype=bool)
    for (i, j), s in entries.items():
        E[i, j], have[i, j] = s, True
    one_way = have & ~have.T
    E[one_way.T] = -E.T[one_way.T]
    never = ~(have | have.T) & ~np.eye(n, dtype=bool)
    if never.any():
        i, j = np.argwhere(never)[0]
        raise ValueError(f"{path}: the pair ({items[i]!r}, {items[j]!r}) has no score in either direction "
                         f"({int(never.sum()) // 2} such pairs)")
    np.fill_diagonal(E, 0.0)
    return items, _readonly(E)


def scores_to_preference(E) -> np.ndarray:
    """``P = ½ + (E − Eᵀ) / (4·max|E|)`` (diagonal ignored; all-zero ``E`` gives ½ everywhere).

    ``(E − Eᵀ)/2`` is the antisymmetric part of the score table: the zero-sum game it defines pays i the mean of its
    own score against j and minus j's score against i (a measured table is only nearly antisymmetric: RRPS's
    differs from its antisymmetric part by sampling noise). Dividing by ``2·max|E|`` maps it into ``[−½, ½]``, and
    ``P = ½ + c·A`` with ``c > 0`` has the same equilibria as ``A``: a best response is unchanged by scaling every
    payoff by ``c > 0`` and adding ½ to all of them, so ``Pπ ≤ ½ ⇔ Aπ ≤ 0``.
    """
    E = np.array(E, dtype=np.float64)
    np.fill_diagonal(E, 0.0)
    scale = float(np.abs(E).max())
    if scale == 0.0:
        return np.full(E.shape, 0.5)
    A = (E - E.T) / (4.0 * scale)
    return 0.5 + A


@_cached
def read_probability_table(path: str) -> np.ndarray:
    """A whitespace- or comma-separated matrix of win probabilities ``P[i, j]``, one row per line (``#`` comments)."""
    text = _read_text(path)
    rows = []
    for k, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if line:
            rows.append([_number(x, path, k, "entry") for x in line.replace(",", " ").split()])
    _check_items(len(rows), path)
    if not rows or len({len(r) for r in rows}) != 1 or len(rows) != len(rows[0]):
        raise ValueError(f"{path}: the probability table is not a square matrix "
                         f"({len(rows)} rows of lengths {sorted({len(r) for r in rows})})")
    return _readonly(np.array(rows))


# --------------------------------------------------------------------------------------------------------------------
# bundled datasets


@dataclass(frozen=True)
class Dataset:
    """A bundled dataset: a file in :data:`DATA_DIR`, its format and its provenance (see PROVENANCE.md there)."""

    name: str
    file: str
    kind: str  # "probabilities" | "scores" | "preflib"
    summary: str
    source: str
    licence: str
    citation: str
    #: For a probability table, the comparisons per pair the bootstrap assumes (the file has rates, not counts).
    games_per_pair: int | None = None

    @property
    def path(self) -> Path:
        return DATA_DIR / self.file


#: The datasets behind ``data:NAME``.
DATASETS: dict[str, Dataset] = {
    "soccer": Dataset(
        "soccer", "soccer.txt", "probabilities",
        "10 MuJoCo soccer agents, P[i, j] = probability that agent i beats agent j (no Condorcet winner)",
        "open_spiel/data/paper_data/response_graph_ucb/soccer.txt (google-deepmind/open_spiel)",
        "Apache-2.0",
        "Rowland et al. 2019, Multiagent Evaluation under Incomplete Information (NeurIPS)",
        games_per_pair=1000,
    ),
    "rrps_bots": Dataset(
        "rrps_bots", "rrps_bot_table.txt", "scores",
        "43 repeated rock-paper-scissors bots, mean score over 1,000 throws per pair (strongly cyclic)",
        "open_spiel/data/paper_data/pbe_rrps/bot_table_file.txt (google-deepmind/open_spiel)",
        "Apache-2.0",
        "population-based evaluation of RRPS bots, open_spiel paper data",
    ),
    "dublin_north": Dataset(
        "dublin_north", "00001-00000001.soi", "preflib",
        "2002 Dublin North election, 43,942 ranked ballots over 12 candidates (pairwise majority counts)",
        "PrefLib dataset 00001 (Irish elections), file 00001-00000001.soi",
        "PrefLib terms (cite the library)",
        "N. Mattei and T. Walsh, PrefLib: A Library of Preference Data, ADT 2013",
    ),
}


def describe_datasets() -> list[dict[str, object]]:
    """The bundled datasets as plain dicts (for ``nashlab games``)."""
    return [{"spec": f"data:{d.name}", "kind": d.kind, "summary": d.summary, "source": d.source,
             "licence": d.licence, "citation": d.citation} for d in DATASETS.values()]


# --------------------------------------------------------------------------------------------------------------------
# specs


@dataclass(frozen=True, eq=False)
class RealData:
    """A game built from measured data, with its comparison counts when it has them (for the bootstrap).

    ``comparisons`` is ``None`` for score tables (mean scores, not counts). For a probability table (``data:soccer``)
    it holds ``P·m`` wins per pair for the stated ``m = games`` comparisons per pair, an assumption the bootstrap
    needs and the file does not record.
    """

    game: PreferenceGame
    items: tuple[str, ...]
    comparisons: Comparisons | None
    note: str = ""


_PARAM = re.compile(r"^\s*[A-Za-z_]\w*\s*=")


def split_path_params(text: str) -> tuple[str, dict[str, object]]:
    """Split ``PATH,k=v,k2=v2`` into the path and its parameters: only trailing ``key=value`` items are parameters.

    >>> split_path_params("runs/a,b.csv,prior=1")
    ('runs/a,b.csv', {'prior': 1})
    """
    from .spec import parse_params

    parts = text.split(",")
    cut = len(parts)
    while cut > 1 and _PARAM.match(parts[cut - 1]):
        cut -= 1
    path = ",".join(parts[:cut]).strip()
    return path, parse_params(",".join(parts[cut:]), what="data spec")


def _take(params: dict, valid: dict[str, object], spec: str) -> dict[str, object]:
    unknown = sorted(set(params) - set(valid))
    if unknown:
        listing = ", ".join(f"{k}={v!r}" for k, v in valid.items()) or "none"
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for {spec!r}; valid (with defaults): {listing}")
    out = dict(valid)
    out.update(params)
    if "prior" in out:
        p = out["prior"]
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not (math.isfinite(p) and p >= 0):
            raise ValueError(f"prior of {spec!r} must be a finite number ≥ 0; got {p!r}")
        out["prior"] = float(p)
    if "games" in out:
        g = out["games"]
        if isinstance(g, bool) or not isinstance(g, int) or g < 1:
            raise ValueError(f"games of {spec!r} must be an integer ≥ 1; got {g!r}")
    return out


def _from_counts(items, N, prior: float, source: str, name: str) -> RealData:
    comp = Comparisons(tuple(items), N, prior, source)
    P = comp.preference_matrix()
    return RealData(PreferenceGame(P, name=name), comp.items, comp)


def _from_scores(items, E, name: str) -> RealData:
    return RealData(PreferenceGame(scores_to_preference(E), name=name), tuple(items), None)


def _load(kind: str, path: str, params: dict, spec: str, name: str, games_default: int | None = None) -> RealData:
    if kind == "counts":
        p = _take(params, {"prior": 0.0}, spec)
        items, N = read_counts_csv(path)
        return _from_counts(items, N, p["prior"], path, name)
    if kind == "preflib":
        p = _take(params, {"prior": 0.0}, spec)
        items, N = read_preflib(path)
        return _from_counts(items, N, p["prior"], path, name)
    if kind == "scores":
        _take(params, {}, spec)
        items, E = read_score_table(path)
        return _from_scores(items, E, name)
    if kind == "probabilities":
        p = _take(params, {"games": games_default or 1000}, spec)
        P = read_probability_table(path)
        try:
            game = PreferenceGame(P, name=name)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        items = tuple(str(i) for i in range(game.n))
        m = p["games"]
        comp = Comparisons(items, game.P * m, 0.0, path)
        return RealData(game, items, comp, note=f"wins = P·{m}: the file holds rates, {m} games per pair assumed")
    raise ValueError(f"unknown data kind {kind!r}")  # pragma: no cover - the registry holds the kinds above


def load_real_data(spec: str) -> RealData | None:
    """The :class:`RealData` a spec names, or ``None`` when the spec is not one of this module's forms.

    Raises:
        ValueError: an unknown dataset (listing the bundled ones), a bad parameter, or a malformed file.
        FileNotFoundError: a missing path.
    """
    if not isinstance(spec, str):
        return None
    text = spec.strip()
    prefix, sep, rest = text.partition(":")
    prefix = prefix.strip().lower()
    if sep and prefix in PREFIXES:
        if prefix == "data":
            name, params = split_path_params(rest)
            key = name.strip().lower()
            if key not in DATASETS:
                raise ValueError(f"unknown dataset {name.strip()!r}; bundled: "
                                 f"{', '.join('data:' + k for k in DATASETS)}")
            d = DATASETS[key]
            label = "data:" + d.name + ("," + ",".join(f"{k}={v}" for k, v in params.items()) if params else "")
            return _load(d.kind, str(d.path), params, text, label, d.games_per_pair)
        path, params = split_path_params(rest)
        if not path:
            example = "ballots.soi" if prefix == "preflib" else "file.csv"
            raise ValueError(f"{prefix} spec needs a path, e.g. {prefix}:my_{example}")
        return _load(prefix, path, params, text, os.path.basename(path))
    path, params = split_path_params(text)
    if path.lower().endswith(PREFLIB_SUFFIXES):
        return _load("preflib", path, params, text, os.path.basename(path))
    return None
