"""Shared test configuration: hypothesis profiles, the GPU marker, and a private verification cache."""

import os
import signal
import tempfile

import pytest
import torch
from hypothesis import HealthCheck, settings

# Profiles (HYPOTHESIS_PROFILE=NAME):
# - `ci`, the default with or without CI set: derandomised, so every run of the README's test command tries the same
#   examples and a failure reproduces anywhere;
# - `dev`: explores new random examples each run (hypothesis's default budget);
# - `thorough`: explores 10x more examples; by hand (the attack suite in tests/attack also scales its budget by 20).
_quiet = [HealthCheck.too_slow]
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True, suppress_health_check=_quiet)
settings.register_profile("dev", deadline=None, suppress_health_check=_quiet)
settings.register_profile("thorough", deadline=None, max_examples=1000, print_blob=True, suppress_health_check=_quiet)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# pytest-xdist's workers start with SIGINT ignored, and a disposition of "ignore" is inherited by every child process;
# the Ctrl-C tests (a KeyboardInterrupt in the test process, SIGINT to a `nashlab` subprocess) need Python's default.
signal.signal(signal.SIGINT, signal.default_int_handler)

# `nashlab verify` caches its reports (and `llm train` reads them); the suite keeps its own cache, shared by every test
# and subprocess of one run, so it neither reads nor writes the user's ~/.cache/nashlab.
os.environ.setdefault("NASHLAB_CACHE_DIR", tempfile.mkdtemp(prefix="nashlab-test-cache-"))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none visible)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
