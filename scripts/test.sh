#!/usr/bin/env bash
# README command 2: run pytest-triton's own tests (unit, plugin and integration against the
# real bundled tritonserver; docker tests too when a Docker engine and the CPU image exist).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/venv.sh" test
cd "$root"
exec .venv/bin/python -m pytest tests "$@"
