#!/usr/bin/env bash
# Make a Docker engine reachable on this machine, for the docker-mode integration tests.
#
#   scripts/provision_docker.sh            # install docker.io if needed, start dockerd, wait
#
# Safe to rerun: an engine that already answers is left alone, a dockerd we started earlier is
# reused, and apt is only touched when dockerd is missing. CI machines here have no systemd, so
# dockerd is started directly in the background (its log goes to $DOCKERD_LOG).
#
# Environment:
#   DOCKERD_LOG          where dockerd's output goes (default /var/tmp/pytest-triton-dockerd.log)
#   DOCKER_WAIT_SECONDS  how long to wait for the engine to answer (default 60)
set -euo pipefail

DOCKERD_LOG="${DOCKERD_LOG:-/var/tmp/pytest-triton-dockerd.log}"
DOCKER_WAIT_SECONDS="${DOCKER_WAIT_SECONDS:-60}"
PIDFILE=/var/run/docker.pid

log() { printf 'provision_docker: %s\n' "$*" >&2; }

engine_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

if command -v docker >/dev/null 2>&1 && engine_answers; then
    log "engine already running: $(docker version --format '{{.Server.Version}}')"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    log "dockerd not found: installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq docker.io >/dev/null
fi

# A stale pid file (from a dockerd that died with the machine's previous job) makes a new
# dockerd refuse to start; a live one means a dockerd is still coming up and we just wait.
if [ -f "$PIDFILE" ]; then
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        log "dockerd (pid $pid) is running but not answering yet; waiting for it"
        started_pid="$pid"
    else
        log "removing stale $PIDFILE"
        as_root rm -f "$PIDFILE"
    fi
fi

if [ -z "${started_pid:-}" ]; then
    log "starting dockerd (log: $DOCKERD_LOG)"
    # setsid: dockerd must outlive this script and the CI step's process group.
    as_root setsid dockerd --pidfile "$PIDFILE" >"$DOCKERD_LOG" 2>&1 </dev/null &
    started_pid=$!
fi

deadline=$((SECONDS + DOCKER_WAIT_SECONDS))
until engine_answers; do
    if ! kill -0 "$started_pid" 2>/dev/null && ! { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }; then
        log "dockerd exited; last lines of $DOCKERD_LOG:"
        tail -n 30 "$DOCKERD_LOG" >&2 || true
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        log "engine did not answer within ${DOCKER_WAIT_SECONDS}s; last lines of $DOCKERD_LOG:"
        tail -n 30 "$DOCKERD_LOG" >&2 || true
        exit 1
    fi
    sleep 0.5
done
log "engine ready: $(docker version --format '{{.Server.Version}}')"
