"""Deadline-based readiness polling that refuses to mistake a stale server for ours.

A server we started is only "ready" when (1) our process is still alive, (2) the HTTP endpoint
says ready, and (3) the server answering reports the unique `--id` we gave it. (1) alone misses a
stale server already holding the port; (2) alone takes that stale server for ours.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pytest_triton import triton_http
from pytest_triton.errors import ServerDiedError, ServerStartError


@dataclass(frozen=True)
class Probe:
    """What one look at the server showed."""

    ready: bool
    server_id: str | None = None
    version: str | None = None


def http_probe(http: str, timeout_s: float = 1.0) -> Probe:
    """Ask Triton at 'host:port' whether it is ready and who it is. Never raises."""
    try:
        triton_http.call(http, "GET", "/v2/health/ready", timeout_s=timeout_s)
        meta = triton_http.call(http, "GET", "/v2", timeout_s=timeout_s)
    except (TimeoutError, triton_http.TritonHTTPError, triton_http.TritonUnreachable):
        return Probe(ready=False)
    return Probe(ready=True, server_id=meta.get("name"), version=meta.get("version"))


def wait_until_ready(
    http: str,
    *,
    timeout_s: float,
    is_alive: Callable[[], bool],
    log_tail: Callable[[], str],
    expected_id: str | None = None,
    probe: Callable[[str], Probe] = http_probe,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    interval_s: float = 0.2,
) -> Probe:
    """Poll until ready; ServerStartError (with the log tail) on death, impostor or deadline."""
    deadline = clock() + timeout_s
    while True:
        if not is_alive():
            raise ServerDiedError("tritonserver exited before becoming ready", log_tail())
        seen = probe(http)
        if seen.ready:
            if expected_id is not None and seen.server_id != expected_id:
                raise ServerStartError(
                    f"another Triton server (id {seen.server_id!r}) is answering on {http}, "
                    f"not the one we started (id {expected_id!r}); stop the stale server or "
                    "let pytest-triton pick free ports",
                    log_tail(),
                )
            # Re-check liveness: the answer must not come from a server that took our port
            # while ours was dying.
            if not is_alive():
                raise ServerDiedError("tritonserver exited while becoming ready", log_tail())
            return seen
        if clock() >= deadline:
            raise ServerStartError(
                f"tritonserver was not ready on {http} within {timeout_s:g}s "
                "(raise --triton-startup-timeout if loading is slow)",
                log_tail(),
            )
        sleep(interval_s)
