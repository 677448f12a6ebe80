"""Builders of measurements with known per-window samples, for baseline and verdict tests."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_triton.baseline.fingerprint import Fingerprint
from pytest_triton.result import Measurement, ServerSplit, StepResult, WindowSample


def window(
    latency_ms: float,
    throughput: float,
    *,
    requests: int = 2000,
    p99_factor: float = 1.5,
    queue_us: float = 100.0,
    compute_us: float | None = None,
    client_us: float = 50.0,
) -> WindowSample:
    compute = (
        latency_ms * 1000.0 - queue_us - client_us - 20.0 if compute_us is None else compute_us
    )
    return WindowSample(
        duration_s=2.0,
        requests=requests,
        errors=0,
        throughput=throughput,
        avg_ms=latency_ms,
        p50_ms=latency_ms * 0.95,
        p90_ms=latency_ms * 1.2,
        p95_ms=latency_ms * 1.3,
        p99_ms=latency_ms * p99_factor,
        server=ServerSplit(queue_us, 0.0, compute, 0.0, 20.0, requests),
        client_overhead_us=client_us,
    )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def step(
    windows: Sequence[WindowSample], concurrency: int | None = 1, rate: float | None = None
) -> StepResult:
    """Aggregates as the mean of the windows (what equal-length windows give)."""
    requests = sum(w.requests for w in windows)

    def split_mean(attr: str) -> float:
        return _mean([float(getattr(w.server, attr)) for w in windows])

    return StepResult(
        concurrency=concurrency,
        request_rate=rate,
        windows=tuple(windows),
        stable=True,
        throughput=_mean([w.throughput for w in windows]),
        avg_ms=_mean([w.avg_ms for w in windows]),
        p50_ms=_mean([w.p50_ms for w in windows]),
        p90_ms=_mean([w.p90_ms for w in windows]),
        p95_ms=_mean([w.p95_ms for w in windows]),
        p99_ms=_mean([w.p99_ms for w in windows]),
        requests=requests,
        errors=0,
        server=ServerSplit(
            split_mean("queue_us"),
            split_mean("compute_input_us"),
            split_mean("compute_infer_us"),
            split_mean("compute_output_us"),
            split_mean("overhead_us"),
            requests,
        ),
        client_overhead_us=_mean([w.client_overhead_us for w in windows]),
    )


def measurement_from_latencies(
    latencies: Sequence[float], concurrency: int = 4, requests: int = 2000
) -> Measurement:
    """A closed-loop step: throughput = concurrency / latency, as Little's law says."""
    windows = [window(lat, concurrency * 1000.0 / lat, requests=requests) for lat in latencies]
    return Measurement("tiny", None, (step(windows, concurrency),), duration_s=10.0)


def scaled(measurement: Measurement, latency_factor: float) -> Measurement:
    """The same run with every latency multiplied (throughput divided) by a factor."""
    steps = []
    for s in measurement.steps:
        windows = [
            window(
                w.avg_ms * latency_factor,
                w.throughput / latency_factor,
                requests=w.requests,
                queue_us=w.server.queue_us,
                compute_us=w.server.compute_infer_us
                + (w.avg_ms * latency_factor - w.avg_ms) * 1000.0,
                client_us=w.client_overhead_us,
            )
            for w in s.windows
        ]
        steps.append(step(windows, s.concurrency, s.request_rate))
    return Measurement(measurement.model, measurement.version, tuple(steps), measurement.duration_s)


def fingerprint(**changes: str | int) -> Fingerprint:
    base = {
        "machine": "x86_64",
        "cpu_model": "AMD EPYC",
        "cpu_count": 2,
        "server_kind": "local",
        "server_version": "2.51.0",
        "server_digest": "sha256:abc",
        "server_source": "/venv/bin/tritonserver",
        "python": "3.11.9",
        "os": "Linux 6.1",
    }
    base.update(changes)
    return Fingerprint(**base)  # type: ignore[arg-type]
