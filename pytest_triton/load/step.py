"""Load points, per-step settings, and turning measured windows into a StepResult."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pytest_triton.load.stats import (
    client_overhead_us,
    merge_splits,
    stream_stats,
    summarize_ns,
)
from pytest_triton.observe.metrics import summarise
from pytest_triton.result import ServerSplit, StepResult, WindowSample
from pytest_triton.spec import SLO, LoadSpec

from .points import judged_latency

STABLE_WINDOWS = 3  # perf_analyzer's rule: the last 3 windows must agree


@dataclass(frozen=True)
class LoadPoint:
    concurrency: int | None = None
    rate: float | None = None

    @property
    def label(self) -> str:
        return f"c{self.concurrency}" if self.concurrency is not None else f"r{self.rate:g}"


@dataclass(frozen=True)
class StepSettings:
    """How one step is measured (derived from the LoadSpec; probes shorten it)."""

    warmup_s: float
    window_s: float
    window_requests: int | None
    stability_pct: float
    measured_windows: int
    latency_stat: str
    max_trials: int
    max_window_retries: int
    max_step_s: float
    batch_size: int
    distribution: str
    seed: int
    max_outstanding: int
    request_timeout_s: float
    probe: bool = False  # one short window, no stability: a quick look during an auto ramp
    # False: exactly `measured_windows` windows after the warm-up, no waiting for stability. A
    # paired block (load/paired.py) is one of several whose spread the verdict reads instead.
    until_stable: bool = True
    block_pairs: int = 4  # paired steps only (load/paired.py)

    @classmethod
    def from_load(cls, load: LoadSpec, slo: SLO | None) -> StepSettings:
        return cls(
            warmup_s=load.warmup_s,
            window_s=load.window_s,
            window_requests=load.window_requests,
            stability_pct=load.stability_pct,
            measured_windows=load.measured_windows,
            latency_stat=judged_latency(load, slo.latency_bounds() if slo else None),
            max_trials=load.max_trials,
            max_window_retries=load.max_window_retries,
            max_step_s=load.max_step_s,
            batch_size=load.batch_size,
            distribution=load.rate_distribution,
            seed=load.seed,
            max_outstanding=load.max_outstanding,
            request_timeout_s=load.request_timeout_s,
            block_pairs=load.block_pairs,
        )

    def as_probe(self) -> StepSettings:
        from dataclasses import replace

        # A quarter of a window (at least 0.5 s) after a short warm-up: enough requests to see
        # whether throughput still grows, at a fraction of a stable step's cost.
        return replace(
            self,
            warmup_s=min(self.warmup_s, 0.25),
            window_s=max(0.5, self.window_s / 4),
            window_requests=None,
            probe=True,
        )


@dataclass
class RawWindow:
    """A window as measured, before summarising: latencies are kept for pooled percentiles."""

    sample: WindowSample
    latencies_ns: Sequence[int]
    client_cpu: float  # load-generator CPU seconds per second of window (max over processes)
    client_bound: bool
    gauges: Mapping[str, float]
    error_samples: tuple[str, ...] = ()  # Triton's texts of the window's failed requests
    # streaming: per request, time to first response and mean gap between responses (ns)
    ttft_ns: Sequence[int] = ()
    itl_ns: Sequence[int] = ()
    # ensembles and BLS: the split of each other model that served requests in the window
    composing: Mapping[str, ServerSplit] = field(default_factory=dict)


def build_step(
    point: LoadPoint,
    windows: Sequence[RawWindow],
    stable: bool,
    settings: StepSettings,
    extra_metrics: Mapping[str, float] | None = None,
    unanswered: int = 0,
    earlier_errors: int = 0,
) -> StepResult:
    """The step's aggregate over its measured windows (the last `measured_windows`, at least
    3, or all if fewer).

    Percentiles come from the pooled latencies of those windows, not from averaging window
    percentiles: a p99 of three p99s is not a p99.
    """
    last = max(STABLE_WINDOWS, settings.measured_windows)
    measured = list(windows[-last:]) if not settings.probe else list(windows)
    latencies: list[int] = []
    for w in measured:
        latencies.extend(w.latencies_ns)
    summary = summarize_ns(latencies)
    duration = sum(w.sample.duration_s for w in measured)
    requests = sum(w.sample.requests for w in measured)
    errors = sum(w.sample.errors for w in measured)
    throughput = requests * settings.batch_size / duration if duration > 0 else 0.0
    split = merge_splits([w.sample.server for w in measured])
    composing = {
        name: merge_splits([w.composing[name] for w in measured if name in w.composing])
        for name in sorted({n for w in measured for n in w.composing})
    }
    bound_votes = sum(1 for w in measured if w.client_bound)
    metrics = summarise([w.gauges for w in measured])
    if measured:
        metrics["client_cpu"] = max(w.client_cpu for w in measured)
    metrics.update(extra_metrics or {})
    stream = None
    if any(w.sample.stream is not None for w in measured):
        stream = stream_stats(
            [t for w in measured for t in w.ttft_ns],
            [t for w in measured for t in w.itl_ns],
            sum(w.sample.stream.tokens for w in measured if w.sample.stream is not None),
            requests,
            duration,
        )
    return StepResult(
        concurrency=point.concurrency,
        request_rate=point.rate,
        windows=tuple(w.sample for w in windows),
        stable=stable,
        throughput=throughput,
        avg_ms=summary.avg_ms,
        p50_ms=summary.p50_ms,
        p90_ms=summary.p90_ms,
        p95_ms=summary.p95_ms,
        p99_ms=summary.p99_ms,
        requests=requests,
        errors=errors,
        server=split,
        client_overhead_us=client_overhead_us(summary.avg_ms, split),
        # a majority of the measured windows, so one hiccup does not flag a step
        client_bound=bool(measured) and bound_votes * 2 > len(measured),
        metrics=metrics,
        measured_windows=len(measured),
        probe=settings.probe,
        timeouts=unanswered,
        errors_outside=earlier_errors + sum(w.sample.errors for w in windows) - errors,
        error_samples=tuple(dict.fromkeys(e for w in windows for e in w.error_samples))[:3],
        stream=stream,
        composing=composing,
    )


def violates(step: StepResult, slo: SLO | None) -> bool:
    """A latency bound of the SLO is exceeded at this step (NaN latency counts as exceeded)."""
    if slo is None:
        return False
    for stat, bound in slo.latency_bounds().items():
        value = step.latency(stat)
        if not math.isfinite(value) or value > bound:
            return True
    return False
