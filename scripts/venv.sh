#!/usr/bin/env bash
# Create (or reuse) .venv with pytest-triton installed editable plus the given extras.
# Sourced by example.sh and test.sh so both README commands work on a fresh machine.
set -euo pipefail
extras="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.installed-$extras"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# Reinstall when pyproject.toml changed since the last install with these extras.
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root[$extras]"
    touch "$stamp"
fi
