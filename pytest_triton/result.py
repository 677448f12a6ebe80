"""The data model of a measurement: per-window samples, per-step aggregates, the whole result.

Windows are kept (not only aggregates) so baselines can bound changes with confidence intervals.
All latencies are milliseconds, throughputs inferences per second, server times microseconds per
request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ServerSplit:
    """Average server-side time per request in one window, from the statistics extension."""

    queue_us: float = 0.0
    compute_input_us: float = 0.0
    compute_infer_us: float = 0.0
    compute_output_us: float = 0.0
    # success time minus the parts above: Triton's own overhead
    overhead_us: float = 0.0
    requests: int = 0  # successful inferences the split was computed over

    @property
    def total_us(self) -> float:
        return (
            self.queue_us
            + self.compute_input_us
            + self.compute_infer_us
            + self.compute_output_us
            + self.overhead_us
        )


@dataclass(frozen=True)
class StreamStats:
    """A decoupled (streaming) model's figures over a window or a step, genai-perf's
    definitions: time to first token (TTFT) from send to the first response; inter-token
    latency (ITL) per request, the time from its first to its last response over the gaps
    between them; each response is a token (or chunk). Milliseconds; NaN when none."""

    tokens: int  # responses of the successful requests
    ttft_avg_ms: float
    ttft_p50_ms: float
    ttft_p90_ms: float
    ttft_p95_ms: float
    ttft_p99_ms: float
    itl_avg_ms: float
    itl_p50_ms: float
    itl_p90_ms: float
    itl_p95_ms: float
    itl_p99_ms: float
    output_tokens_per_s: float
    tokens_per_request: float


@dataclass(frozen=True)
class WindowSample:
    """One measurement window at one load point."""

    duration_s: float
    requests: int  # completed inferences (successful)
    errors: int
    throughput: float  # successful inferences / s
    avg_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    server: ServerSplit = field(default_factory=ServerSplit)
    client_overhead_us: float = 0.0  # client latency minus server total, per request
    stream: StreamStats | None = None  # decoupled models only


@dataclass(frozen=True)
class StepResult:
    """All windows at one load point, with the aggregate over its measured (stable) windows."""

    concurrency: int | None
    request_rate: float | None
    windows: tuple[WindowSample, ...]
    stable: bool
    throughput: float
    avg_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    errors: int
    server: ServerSplit = field(default_factory=ServerSplit)
    client_overhead_us: float = 0.0
    client_bound: bool = False  # the load generator, not the server, was the limit
    metrics: dict[str, float] = field(default_factory=dict)  # server / GPU metrics
    # The aggregate above is over the last `measured_windows` of `windows` (the stable ones);
    # earlier windows are the road to stability. 0: all windows (results made before this field).
    measured_windows: int = 0
    # A quick single-window look taken while an `auto` ramp searches; never judged or baselined.
    probe: bool = False
    # Requests that never got an answer: still in flight a request timeout after they were
    # sent. Not in `requests` or `errors`; any of them fails the test (pytest_triton.judge.served).
    timeouts: int = 0
    # Failed requests outside the measured windows (earlier windows, retried attempts): not in
    # `errors` or the figures, but a failure all the same (pytest_triton.judge.served).
    errors_outside: int = 0
    error_samples: tuple[str, ...] = ()  # Triton's error texts (a few), for the failure message
    stream: StreamStats | None = None  # decoupled models only: tokens, TTFT, ITL
    # Ensembles and BLS: per model that served this model's requests, its split (per request
    # it served), from the statistics extension.
    composing: dict[str, ServerSplit] = field(default_factory=dict)

    @property
    def load_point(self) -> str:
        """How steps are matched across runs: 'c4' (concurrency 4) or 'r100' (100 infer/s)."""
        if self.concurrency is not None:
            return f"c{self.concurrency}"
        return f"r{self.request_rate:g}"

    @property
    def measured(self) -> tuple[WindowSample, ...]:
        """The windows the aggregate was computed over."""
        return self.windows[-self.measured_windows :] if self.measured_windows else self.windows

    @property
    def error_rate(self) -> float:
        """Failed and unanswered requests over all requests sent (0 when none were)."""
        failed = self.errors + self.timeouts
        total = self.requests + failed
        return failed / total if total else 0.0

    def latency(self, stat: str) -> float:
        """Latency statistic by name: p50, p90, p95, p99 or avg, or of a stream ttft_p99,
        itl_p50... (NaN for a model that does not stream)."""
        return metric_value(self, stat)


@dataclass(frozen=True)
class BlockPair:
    """With --triton-baseline-build: a block of the baseline build's copy and one of the current
    model at one load point, measured one after the other (pytest_triton.load.paired)."""

    baseline: StepResult
    current: StepResult


# Metrics of decoupled models only (StreamStats); NaN for a step without a stream.
STREAM_METRICS = (
    *(f"{kind}_{stat}" for kind in ("ttft", "itl") for stat in ("avg", "p50", "p90", "p95", "p99")),
    "output_tokens_per_s",
)


def metric_value(sample: StepResult | WindowSample, metric: str) -> float:
    """A gated metric by name, of a step or of one of its windows: 'throughput', a latency
    statistic (avg, p50, p90, p95, p99) in ms, or a stream metric (STREAM_METRICS: ttft_p99,
    itl_p50 in ms, output_tokens_per_s)."""
    if metric == "throughput":
        return sample.throughput
    if metric in STREAM_METRICS:
        if sample.stream is None:
            return math.nan
        name = metric if metric == "output_tokens_per_s" else f"{metric}_ms"
        return float(getattr(sample.stream, name))
    return float(getattr(sample, f"{metric}_ms"))


# Measurement.extra key: the capacity is a lower bound (the SLO held at every measured step).
CAPACITY_LOWER_BOUND = "capacity_lower_bound"


@dataclass(frozen=True)
class Measurement:
    """What one test measured for one model."""

    model: str
    version: str | None
    steps: tuple[StepResult, ...]
    duration_s: float
    capacity: float | None = None  # highest throughput at which the SLO latency bounds held
    notes: tuple[str, ...] = ()  # e.g. "step c64 did not stabilise"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> StepResult:
        """The step with the highest throughput."""
        return max(self.steps, key=lambda s: s.throughput)

    @property
    def capacity_is_lower_bound(self) -> bool:
        return bool(self.extra.get(CAPACITY_LOWER_BOUND))

    def step(self, load_point: str) -> StepResult | None:
        return next((s for s in self.steps if s.load_point == load_point), None)
