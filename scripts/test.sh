#!/usr/bin/env bash
# Fresh machine -> tests: create .venv if needed, install nashlab with its dev extra (torch pinned to the CPU 2.13.0
# wheel), run the whole suite. pytest exits 5 when it collects no test; that fails here too.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet -e '.[dev]'
exec .venv/bin/python -m pytest -q "$@"
