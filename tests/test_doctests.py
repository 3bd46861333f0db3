"""Run the doctests of every nashlab module (the root package's own modules, games, solvers, experiments,
llm_bridge, paper_figs).

The repository keeps one top-level folder per part and installs them as ``nashlab.<part>`` (pyproject's package-dir),
so ``pytest --doctest-modules`` on the folders would import ``games/nash.py`` as ``games.nash`` and break its relative
imports. Instead every module is imported under its installed name and its examples are collected with
:class:`doctest.DocTestFinder` and run with :class:`doctest.DocTestRunner` (ELLIPSIS on).

Guards, so that the run cannot pass vacuously:

* one test per module that has examples; a module without any gets no test (it would pass with nothing run);
* every ``>>>`` prompt in a module's source must be collected by the finder (a prompt in a docstring the finder does
  not reach, e.g. of an object imported from elsewhere or in a plain comment, fails
  :func:`test_every_prompt_in_the_source_runs`);
* the total number of collected examples must be positive (:func:`test_doctests_were_collected`);
* a module that fails to import fails its test, unless the missing module is an optional third-party dependency
  (:data:`OPTIONAL`), in which case the test is skipped with that reason;
* the only doctests not run are listed in :data:`EXCLUDED` with a reason, and an entry naming no collected doctest
  fails :func:`test_doctests_were_collected` (a stale exclusion cannot hide a new doctest of the same name).
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

#: The subpackages whose modules are collected (``experiments.commands`` is a subpackage of ``experiments``).
PACKAGES = ("games", "solvers", "experiments", "llm_bridge", "paper_figs")

#: Third-party top-level modules that are optional for some parts (the LLM stack, open_spiel, ray, the GGUF reader,
#: matplotlib for figures): a module whose import fails for lack of one is skipped with the reason, never dropped.
OPTIONAL = {"transformers", "accelerate", "tensorboard", "safetensors", "pyspiel", "open_spiel", "ray", "gguf",
            "matplotlib", "trl", "tokenizers"}

#: ``"module:qualified name"`` -> why that docstring's examples are not run. Empty: every doctest runs.
EXCLUDED: dict[str, str] = {}

_PROMPT = re.compile(r"^\s*>>>", re.M)


def _module_names() -> list[str]:
    """Every module of the packages, found on disk (importing a package to list it would hide the modules of one
    whose ``__init__`` needs a missing optional dependency)."""
    names = ["nashlab"]
    for root in importlib.util.find_spec("nashlab").submodule_search_locations:  # the root's own modules
        names += [f"nashlab.{path.stem}" for path in sorted(Path(root).glob("*.py"))
                  if path.stem != "__init__" and path.stem.isidentifier()]
    for part in PACKAGES:
        spec = importlib.util.find_spec(f"nashlab.{part}")
        for root in spec.submodule_search_locations:
            for path in sorted(Path(root).rglob("*.py")):
                rel = path.relative_to(root).with_suffix("")
                parts = [p for p in rel.parts if p != "__init__"]
                if all(p.isidentifier() for p in parts):
                    names.append(".".join([f"nashlab.{part}", *parts]))
    return sorted(set(names))


def _load(name: str):
    """``(module, None)`` or ``(None, (kind, message))`` with kind ``"skip"`` (an optional dependency is missing) or
    ``"error"`` (any other import failure, which fails the test)."""
    try:
        return importlib.import_module(name), None
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top in OPTIONAL:
            return None, ("skip", f"{name} needs the optional dependency {top!r}, which is not installed")
        return None, ("error", f"{name} failed to import: {exc!r}")
    except Exception as exc:  # noqa: BLE001 - reported as a failure of that module's test
        return None, ("error", f"{name} failed to import: {exc!r}")


def _collect():
    """Per module: ``(name, module or None, problem, [DocTest with examples], source prompt count)``."""
    finder = doctest.DocTestFinder()
    out = []
    for name in _module_names():
        module, problem = _load(name)
        tests, prompts = [], 0
        if module is not None:
            tests = [t for t in finder.find(module) if t.examples]
            prompts = len(_PROMPT.findall(Path(module.__file__).read_text(encoding="utf-8")))
        out.append((name, module, problem, tests, prompts))
    return out


MODULES = _collect()


class _Runner(doctest.DocTestRunner):
    """Records the optional dependencies an example found missing (``tokenizers``/``transformers`` are imported
    lazily inside functions, so their absence shows only when the example runs)."""

    def __init__(self):
        super().__init__(optionflags=doctest.ELLIPSIS)
        self.missing: set[str] = set()

    def report_unexpected_exception(self, out, test, example, exc_info):
        exc = exc_info[1]
        while exc is not None:  # also through a friendlier error raised from it (``raise ValueError(...) from exc``)
            if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in OPTIONAL:
                self.missing.add(exc.name.split(".")[0])
            exc = exc.__cause__ or exc.__context__
        super().report_unexpected_exception(out, test, example, exc_info)


def _key(module_name: str, test: doctest.DocTest) -> str:
    """``"module:qualified name"`` of a docstring (DocTest names are ``<module>.<qualified name>``)."""
    return f"{module_name}:{test.name[len(module_name) + 1:]}"


_WITH_EXAMPLES = [m for m in MODULES if m[3] or m[2] is not None]


@pytest.mark.parametrize("entry", _WITH_EXAMPLES, ids=[m[0] for m in _WITH_EXAMPLES])
def test_doctests(entry):
    name, module, problem, tests, _ = entry
    if problem is not None:
        kind, message = problem
        if kind == "skip":
            pytest.skip(message)
        pytest.fail(message)
    runner = _Runner()
    report: list[str] = []
    ran = 0
    for test in tests:
        if _key(name, test) in EXCLUDED:
            continue
        result = runner.run(test, out=report.append)
        ran += result.attempted
    assert ran > 0, f"{name} declares examples but none ran"
    if runner.failures and runner.missing:
        pytest.skip(f"{name}'s examples need the optional dependency {sorted(runner.missing)}, not installed")
    assert runner.failures == 0, "".join(report)


def test_every_prompt_in_the_source_runs():
    """A ``>>>`` in a module's source that the finder does not collect is an example that never runs."""
    missed = {name: (prompts, sum(len(t.examples) for t in tests))
              for name, module, _, tests, prompts in MODULES
              if module is not None and prompts != sum(len(t.examples) for t in tests)}
    assert not missed, f"modules whose '>>>' prompts are not all collected (prompts, collected): {missed}"


def test_doctests_were_collected():
    """Guard against an empty run: the packages hold dozens of examples, in at least games/ and solvers/."""
    collected = {name: sum(len(t.examples) for t in tests) for name, _, _, tests, _ in MODULES}
    assert sum(collected.values()) >= 50, collected
    for part in ("games", "solvers"):
        assert any(n > 0 for name, n in collected.items() if name.startswith(f"nashlab.{part}.")), part
    # and every exclusion names a collected docstring (a stale entry could hide a new doctest of the same name)
    keys = {_key(name, t) for name, _, _, tests, _ in MODULES for t in tests}
    assert set(EXCLUDED) <= keys, f"EXCLUDED names doctests that do not exist: {sorted(set(EXCLUDED) - keys)}"
