#!/usr/bin/env bash
# Fresh machine -> tests: create .venv if needed, install nashlab with its dev extra (which holds the llm and openspiel
# extras) at the versions of scripts/constraints.txt (torch 2.13.0, the CPU wheel where one lies on disk),
# run the whole suite on every core (pytest-xdist; at most 4 workers, each test file on one worker so that its module
# fixtures are built once). pytest exits 5 when it collects no test; that fails here too.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet -c scripts/constraints.txt -e '.[dev]'
exec .venv/bin/python -m pytest -q -n auto --maxprocesses 4 --dist loadfile "$@"
