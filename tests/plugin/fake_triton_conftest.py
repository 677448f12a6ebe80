"""conftest for pytester sessions of the baseline plugin: a fake server at the process boundary.

Everything of pytest-triton runs for real (the `triton` handle, SLO judging, the baseline hooks,
store, checkpoints, Ctrl-C handling); only the server and the load engine are replaced, because
a plugin test must not need a running Triton. The fake engine's measurements are deterministic
and steered by environment variables:

FAKE_LATENCY_MS      base latency of every window (default 5)
FAKE_LATENCY_FACTOR  multiplies it (a slower build)
FAKE_STEP_SLEEP      seconds each step takes (to interrupt one)
FAKE_STARTED_FILE    touched when a step starts
FAKE_IDENTITY        server version reported (another environment)
"""

from __future__ import annotations

import os
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

from pytest_triton.result import Measurement, ServerSplit, StepResult, WindowSample
from pytest_triton.server.base import Endpoints, ServerIdentity

_JITTER = (0.0, 0.01, -0.01, 0.005, -0.005)


def _window(latency: float, concurrency: int) -> WindowSample:
    return WindowSample(
        duration_s=1.0,
        requests=1500,
        errors=0,
        throughput=concurrency * 1000.0 / latency,
        avg_ms=latency,
        p50_ms=latency * 0.95,
        p90_ms=latency * 1.2,
        p95_ms=latency * 1.3,
        p99_ms=latency * 1.5,
        server=ServerSplit(100.0, 10.0, latency * 1000.0 - 200.0, 10.0, 30.0, 1500),
        client_overhead_us=50.0,
    )


def fake_measure(
    endpoints: Any,
    name: str,
    version: Any,
    load: Any,
    slo: Any,
    is_alive: Any = None,
    progress: Any = None,
    probes_only: bool = False,
    probes: Any = (),
    step_lock: Any = None,
    gpus: str = "all",
) -> Measurement:
    base = float(os.environ.get("FAKE_LATENCY_MS", "5")) * float(
        os.environ.get("FAKE_LATENCY_FACTOR", "1")
    )
    steps = []
    for c in load.concurrency:
        started = os.environ.get("FAKE_STARTED_FILE")
        if started:
            Path(started).write_text(f"c{c}")
        time.sleep(float(os.environ.get("FAKE_STEP_SLEEP", "0")))
        windows = tuple(_window(base * (1 + j), c) for j in _JITTER)
        n = len(windows)
        step = StepResult(
            concurrency=c,
            request_rate=None,
            windows=windows,
            stable=True,
            throughput=sum(w.throughput for w in windows) / n,
            avg_ms=sum(w.avg_ms for w in windows) / n,
            p50_ms=sum(w.p50_ms for w in windows) / n,
            p90_ms=sum(w.p90_ms for w in windows) / n,
            p95_ms=sum(w.p95_ms for w in windows) / n,
            p99_ms=sum(w.p99_ms for w in windows) / n,
            requests=1500 * n,
            errors=0,
            server=windows[0].server,
            client_overhead_us=50.0,
        )
        steps.append(step)
        if progress is not None:
            progress(step)
    return Measurement(name, version, tuple(steps), duration_s=1.0)


engine = types.ModuleType("pytest_triton.load.engine")
engine.measure = fake_measure  # type: ignore[attr-defined]
sys.modules["pytest_triton.load.engine"] = engine


class FakeServer:
    managed = True
    log_path = None
    endpoints = Endpoints("127.0.0.1:1", "127.0.0.1:2")

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def is_alive(self) -> bool:
        return True

    def exit_reason(self) -> str:
        return "was never started (a fake)"

    def identity(self) -> ServerIdentity:
        version = os.environ.get("FAKE_IDENTITY", "2.51.0")
        # "remote": the fake's figures come from FAKE_* variables, not this machine's CPUs, so
        # the machine-load guard must not probe (a busy CI box would mark every verdict
        # "not trusted" and the regression tests would pass when they must fail).
        return ServerIdentity("remote", version, "/fake/tritonserver", "sha256:fake")

    def log_tail(self, lines: int = 40) -> str:
        return ""


class FakeModels:
    def ensure(self, spec: Any) -> dict[str, Any]:
        config = {
            "name": spec.name,
            "backend": "python",
            "instance_group": [{"count": 1, "kind": "KIND_CPU"}],
        }
        config.update(dict(spec.config))
        return config

    def unload_all(self) -> None: ...


@pytest.fixture(scope="session")
def triton_server() -> FakeServer:
    return FakeServer()


@pytest.fixture(scope="session")
def triton_models() -> FakeModels:
    return FakeModels()
