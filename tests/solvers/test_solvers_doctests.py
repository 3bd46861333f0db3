"""Run the doctested examples of every solvers module (the CI command runs ``tests/`` only)."""

import doctest
import importlib

import pytest

MODULES = ["core", "feedback", "registry", "mwu", "sppo", "inpo", "nash_md", "egpo", "nash_mp", "omwu", "mmd", "mnpo",
           "td_mnpo", "losses", "solve", "policies", "schedules", "estimators"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(f"nashlab.solvers.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
