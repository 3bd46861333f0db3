#!/usr/bin/env bash
# Fresh machine -> main job: create .venv if needed, install nashlab, run the default experiment.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/nashlab run "$@"
