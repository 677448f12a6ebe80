#!/usr/bin/env bash
# Provision NVIDIA Model Analyzer 1.58 for the config-search benchmark
# (benchmarks/search_vs_model_analyzer.py), in a venv of its own: its dependencies (matplotlib,
# numba, optuna, tritonclient[all]) stay out of the project's venv. It drives perf_analyzer, so
# that is provisioned too (scripts/provision_perf_analyzer.sh).
#
# Idempotent: a second run only checks and prints the model-analyzer path.
# Usage: scripts/provision_model_analyzer.sh [DEST]   (default: <repo>/.tools/model-analyzer)
# Env:   PYTHON (interpreter the venv is made from; default: python3)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$repo/.tools/model-analyzer}"
version="1.58.0"
python="${PYTHON:-python3}"

log() { echo "provision_model_analyzer: $*" >&2; }

"$repo/scripts/provision_perf_analyzer.sh" >/dev/null

analyzer="$dest/venv/bin/model-analyzer"
if [[ ! -x "$analyzer" ]] || ! "$dest/venv/bin/pip" show -q "triton-model-analyzer" 2>/dev/null; then
  log "installing triton-model-analyzer==$version into $dest/venv"
  rm -rf "$dest/venv"
  "$python" -m venv "$dest/venv"
  "$dest/venv/bin/pip" install --quiet --no-compile "triton-model-analyzer==$version"
fi
"$analyzer" --help >/dev/null
echo "$analyzer"
