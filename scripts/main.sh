#!/usr/bin/env bash
# Fresh machine -> main job: create .venv if needed, install nashlab (core dependencies only, at the versions of
# scripts/constraints.txt: torch 2.13.0, the CPU wheel where one lies on disk), run the default experiment.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet -c scripts/constraints.txt -e .
exec .venv/bin/nashlab run "$@"
