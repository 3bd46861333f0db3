"""Game and reference specs: every form parses, every malformed spec is refused with the documented error."""

from __future__ import annotations

import json

import numpy as np
import pytest
from games_strategies import game_specs
from hypothesis import given, settings

from nashlab.games import (
    GENERATORS,
    SPEC_KINDS,
    ContextualGame,
    PreferenceGame,
    generator_params,
    make_matrix,
    parse_game_spec,
    parse_ref_spec,
)
from nashlab.games.spec import parse_params


@settings(max_examples=30)
@given(spec=game_specs(min_n=1, max_n=12))
def test_generator_specs_round_trip(spec):
    name, params = spec
    text = name + ":" + ",".join(f"{k}={v!r}" for k, v in params.items())
    g = parse_game_spec(text)
    np.testing.assert_array_equal(g.P, make_matrix(name, **params))
    assert g.beta == 0.0 and np.allclose(g.pi_ref, 1 / params["n"])


@pytest.mark.parametrize("name", list(GENERATORS))
def test_bare_generator_name_uses_defaults(name):
    np.testing.assert_array_equal(parse_game_spec(name).P, make_matrix(name))
    assert parse_game_spec(f"  {name.upper()}  ").n == generator_params(name)["n"]


def test_value_types():
    assert parse_params("n=5,cyclic=0.7,flag=true,x=abc,y=1e-3") == {
        "n": 5, "cyclic": 0.7, "flag": True, "x": "abc", "y": 1e-3}
    assert parse_game_spec("cyclic:n=5.0").n == 5  # an integral float is accepted for an int parameter
    assert parse_game_spec("cyclic:margin=1").P[0, 1] == 1.0  # an int for a float parameter


def test_other_kinds(tmp_path):
    assert set(SPEC_KINDS) == {"generator", "contextual", "openspiel", "file", "data", "counts", "preflib", "scores"}
    cg = parse_game_spec("contextual:n=4,contexts=3,seed=2")
    assert isinstance(cg, ContextualGame) and cg.game.P.shape == (3, 4, 4)
    rps = parse_game_spec("openspiel:matrix_rps")
    np.testing.assert_array_equal(rps.P, [[0.5, 0, 1], [1, 0.5, 0], [0, 1, 0.5]])
    g = PreferenceGame(make_matrix("egpo", n=4))
    assert parse_game_spec(g) is g


def test_files(tmp_path):
    P = make_matrix("egpo", n=5, seed=1)
    np.save(tmp_path / "p.npy", P)
    np.save(tmp_path / "batch.npy", np.stack([P, P.T]))
    (tmp_path / "p.json").write_text(json.dumps(P.tolist()))
    (tmp_path / "d.json").write_text(json.dumps({"P": P.tolist(), "pi_ref": [0.1, 0.2, 0.3, 0.2, 0.2], "beta": 0.05}))
    np.savetxt(tmp_path / "p.csv", P, delimiter=",", header="a comment", fmt="%.17g")
    for name in ("p.npy", "p.json", "p.csv"):
        g = parse_game_spec(str(tmp_path / name))
        np.testing.assert_array_equal(g.P, P)
        assert g.name == name
    assert parse_game_spec(str(tmp_path / "batch.npy")).batch_shape == (2,)
    d = parse_game_spec(str(tmp_path / "d.json"))
    assert d.beta == 0.05 and d.pi_ref[0] == 0.1
    assert parse_game_spec("file:" + str(tmp_path / "p.csv")).n == 5


def test_forged_npy_header_is_refused_before_allocating(tmp_path):
    """A 100-byte file whose header claims a 10⁶ × 10⁶ matrix (7.3 TiB): refused from the header, naming the shape."""
    path = tmp_path / "huge.npy"
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
        fh.write(bytes(64))
    with pytest.raises(ValueError, match=r"huge.npy as a .npy matrix: its array of shape \(1000000, 1000000\) is "
                                         r"larger than nashlab reads"):
        parse_game_spec(str(path))


def _write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, np.ndarray):
        np.save(path, content, allow_pickle=True)
    else:
        path.write_text(content)
    return str(path)


@pytest.mark.parametrize(
    "spec,match",
    [
        ("", "empty game spec"),
        ("nope:n=3", r"unknown game 'nope'; use a generator \(cyclic, skew, egpo"),
        ("cyclic:n=3,foo=1", r"unknown parameter\(s\) foo for 'cyclic'; valid \(with defaults\): n=3, margin=1.0"),
        ("cyclic:n=x", "parameter n of 'cyclic' must be an integer; got 'x'"),
        ("cyclic:n=2.5", "parameter n of 'cyclic' must be an integer; got 2.5"),
        ("cyclic:n=true", "must be an integer"),
        ("skew:scale=nan", "parameter scale of 'skew' must be finite"),
        ("skew:scale=abc", "parameter scale of 'skew' must be a number"),
        ("cyclic:n", "malformed 'cyclic' parameter 'n': expected key=value"),
        ("cyclic:=3", "empty key"),
        ("cyclic:n=3,n=4", "parameter 'n' given twice"),
        ("cyclic:n=0", "n must be an integer ≥ 1"),
        ("cyclic:n=100000", "too large a game"),
        ("contextual:n=50,contexts=1000000", "too large a game"),
        ("egpo:seed=-1", r"parameter seed of 'egpo' must be an integer in \[0, 2\*\*63\); got -1"),
        ("egpo:seed=99999999999999999999", r"parameter seed of 'egpo' must be an integer in \[0, 2\*\*63\)"),
        ("contextual:seed=9223372036854775808", r"parameter seed of 'contextual' must be an integer in \[0, 2\*\*63\)"),
        ("contextual:foo=1", r"unknown parameter\(s\) foo for 'contextual'"),
        ("openspiel:", "openspiel spec needs a game name"),
        ("openspiel:nope", "unknown OpenSpiel game 'nope'; symmetric constant-sum matrix games: .*matrix_rps"),
        ("openspiel:matrix_mp", "not symmetric"),
        ("openspiel:matrix_pd", "not constant-sum"),
    ],
)
def test_bad_specs_refused(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_game_spec(spec)


@pytest.mark.parametrize(
    "name,content,match",
    [
        ("bad.npy", np.ones((3, 3)), r"bad.npy: P \+ Pᵀ must equal 1"),
        ("vec.npy", np.full(3, 0.5), r"must have shape \[n, n\] \(or \[B, n, n\]\)"),
        ("obj.npy", np.array([{"a": 1}], dtype=object), "obj.npy as a .npy matrix: it holds an object array, not a "
                                                         "numeric one$"),
        ("random.npy", bytes(range(7, 207)), r"random.npy as a .npy matrix: not a .npy file \(no NumPy header\)"),
        ("str.npy", np.array(["a", "b"]), "is not numeric"),
        ("corrupt.npy", b"\x93NUMPYgarbage", "could not read .*corrupt.npy"),
        ("empty.npy", b"", "could not read .*empty.npy"),
        ("bad.json", "[[0.5, 0.1],", r"malformed JSON in .*bad.json: .* at line 1, column"),
        ("noP.json", '{"Q": 1}', "must have a key 'P'"),
        ("extra.json", '{"P": [[0.5]], "foo": 1}', r"unknown key\(s\) foo"),
        ("str.json", '[[0.5, "a"], [0.5, 0.5]]', "must be a numeric"),
        ("ragged.json", "[[0.5, 0.5], [0.5]]", "must be a numeric"),
        ("badbeta.json", '{"P": [[0.5]], "beta": -1}', "beta must be a finite number ≥ 0"),
        ("ragged.csv", "0.5,0.5\n0.5\n", "rows have different lengths"),
        ("text.csv", "a,b\n1,2\n", "line 1: could not convert"),
        ("blank.csv", "# only a comment\n", "no numbers found"),
        ("binary.csv", b"\xff\xfe\x00", "not UTF-8"),
        ("nan.csv", "0.5,nan\nnan,0.5\n", "P must be finite"),
    ],
)
def test_bad_files_refused(tmp_path, name, content, match):
    path = _write(tmp_path, name, content)
    with pytest.raises(ValueError, match=match):
        parse_game_spec(path)


def test_missing_and_odd_paths(tmp_path):
    missing = str(tmp_path / "missing.npy")
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        parse_game_spec(missing)
    with pytest.raises(FileNotFoundError, match="nowhere/x.json"):
        parse_game_spec("nowhere/x.json")
    with pytest.raises(ValueError, match="is not a regular file"):
        parse_game_spec(str(tmp_path) + "/")
    (tmp_path / "m.txt").write_text("0.5")
    with pytest.raises(ValueError, match="unsupported file type '.txt'"):
        parse_game_spec(str(tmp_path / "m.txt"))


def test_ref_specs(tmp_path):
    np.testing.assert_array_equal(parse_ref_spec("uniform", 4), np.full(4, 0.25))
    np.testing.assert_array_equal(parse_ref_spec(None, 2), [0.5, 0.5])
    r = parse_ref_spec("random:seed=3", 5)
    z = np.random.default_rng(3).normal(size=5)  # π_ref = softmax(z), z ~ N(0, I)
    np.testing.assert_allclose(r, np.exp(z) / np.exp(z).sum(), rtol=1e-15)
    np.testing.assert_allclose(parse_ref_spec("random:seed=3,scale=0", 5), np.full(5, 0.2))
    assert parse_ref_spec("random:seed=1", 3, (2,)).shape == (2, 3)
    np.save(tmp_path / "r.npy", np.array([0.2, 0.3, 0.5]))
    np.testing.assert_array_equal(parse_ref_spec(str(tmp_path / "r.npy"), 3), [0.2, 0.3, 0.5])
    np.testing.assert_array_equal(parse_ref_spec(str(tmp_path / "r.npy"), 3, (2,)), [[0.2, 0.3, 0.5]] * 2)
    (tmp_path / "r.csv").write_text("0.5,0.5\n")
    np.testing.assert_array_equal(parse_ref_spec(str(tmp_path / "r.csv"), 2), [0.5, 0.5])


@pytest.mark.parametrize(
    "ref,match",
    [
        ("bogus", "unknown reference policy 'bogus'"),
        ("uniform:x=1", "'uniform' takes no parameters"),
        ("random:foo=1", r"unknown parameter\(s\) foo for 'random'; valid \(with defaults\): seed=0, scale=1.0"),
        ("random:seed=x", "parameter seed of 'random' must be an integer"),
        ("random:seed=-2", r"parameter seed of 'random' must be an integer in \[0, 2\*\*63\); got -2"),
        ("random:seed=99999999999999999999", r"seed of 'random' must be an integer in \[0, 2\*\*63\)"),
        ("random:seed=0,scale=1e6", r"scale=1e\+06 of 'random' is too large: softmax\(scale·z\) underflows"),
        ("random:seed=0,scale=1e308", "scale=1e.308 of 'random' is too large"),
        ("random:seed=1,scale=-1", "scale of 'random' must be ≥ 0"),
        ("short.npy", "must have length 3"),
        ("bad.npy", "must sum to 1 within 1e-09; its entries sum to 1.1"),
        ("zero.npy", "must have full support"),
        ("neg.npy", r"^[^(]*neg.npy: pi_ref must be non-negative; pi_ref\(2\) = -0.1$"),  # the path once
    ],
)
def test_bad_refs_refused(tmp_path, ref, match):
    np.save(tmp_path / "short.npy", np.array([0.5, 0.5]))
    np.save(tmp_path / "bad.npy", np.array([0.2, 0.3, 0.6]))
    np.save(tmp_path / "zero.npy", np.array([0.5, 0.5, 0.0]))
    np.save(tmp_path / "neg.npy", np.array([0.6, 0.5, -0.1]))
    if ref.endswith(".npy"):
        ref = str(tmp_path / ref)
    with pytest.raises(ValueError, match=match):
        parse_ref_spec(ref, 3)


def test_missing_ref_file():
    with pytest.raises(FileNotFoundError, match="no/such.npy"):
        parse_ref_spec("no/such.npy", 3)
    with pytest.raises(ValueError, match="n must be an integer ≥ 1"):
        parse_ref_spec("uniform", 0)
