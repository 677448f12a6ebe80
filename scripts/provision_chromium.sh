#!/usr/bin/env bash
# Provision headless Chromium (Debian's package) for the test that renders the HTML report in a
# real browser. Idempotent: with chromium on PATH it only prints where it is.
set -euo pipefail

log() { echo "provision_chromium: $*" >&2; }

for name in chromium chromium-browser; do
  if command -v "$name" >/dev/null; then
    command -v "$name"
    exit 0
  fi
done

as_root() {
  if [[ "$(id -u)" == 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to install chromium (apt-get install chromium)"; exit 1; fi
}

log "installing Debian's chromium"
as_root apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium
