#!/usr/bin/env bash
# README command 1: run the example suite against a real Triton (the tritonserver shipped in
# the nvidia-pytriton wheel). Extra arguments go to pytest, e.g. --triton-image IMAGE.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/venv.sh" server
cd "$root"
exec .venv/bin/python -m pytest example_suite "$@"
