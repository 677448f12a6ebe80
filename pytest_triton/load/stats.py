"""Statistics of measurements: percentiles, windows, stability, plateau, the server-side split.

Pure functions over plain numbers (no numpy: a window holds thousands of latencies at most, and
sorting them in Python takes about a millisecond), so the rules can be unit tested exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_triton.result import ServerSplit, StreamStats, WindowSample


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, interpolating linearly.

    Linear interpolation (numpy's default) rather than nearest rank, so a percentile moves
    smoothly with the data instead of jumping between samples in small windows.
    """
    n = len(sorted_values)
    if n == 0:
        return math.nan
    if n == 1:
        return float(sorted_values[0])
    pos = (n - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    a, b = float(sorted_values[lo]), float(sorted_values[hi])
    return a + (b - a) * frac  # exact when a == b, so equal samples give equal percentiles


@dataclass(frozen=True)
class LatencySummary:
    """Latency statistics in milliseconds; NaN when nothing completed."""

    count: int
    avg_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float


def summarize_ns(latencies_ns: Sequence[int]) -> LatencySummary:
    """avg/p50/p90/p95/p99 in ms of request latencies given in nanoseconds."""
    if not latencies_ns:
        nan = math.nan
        return LatencySummary(0, nan, nan, nan, nan, nan)
    ordered = sorted(latencies_ns)
    to_ms = 1e-6
    return LatencySummary(
        count=len(ordered),
        avg_ms=sum(ordered) / len(ordered) * to_ms,
        p50_ms=percentile(ordered, 50) * to_ms,
        p90_ms=percentile(ordered, 90) * to_ms,
        p95_ms=percentile(ordered, 95) * to_ms,
        p99_ms=percentile(ordered, 99) * to_ms,
    )


def stream_stats(
    ttft_ns: Sequence[int], itl_ns: Sequence[int], tokens: int, requests: int, duration_s: float
) -> StreamStats:
    """A window's or a step's streaming figures (pooled, as latencies are)."""
    ttft, itl = summarize_ns(ttft_ns), summarize_ns(itl_ns)
    return StreamStats(
        tokens=tokens,
        ttft_avg_ms=ttft.avg_ms,
        ttft_p50_ms=ttft.p50_ms,
        ttft_p90_ms=ttft.p90_ms,
        ttft_p95_ms=ttft.p95_ms,
        ttft_p99_ms=ttft.p99_ms,
        itl_avg_ms=itl.avg_ms,
        itl_p50_ms=itl.p50_ms,
        itl_p90_ms=itl.p90_ms,
        itl_p95_ms=itl.p95_ms,
        itl_p99_ms=itl.p99_ms,
        output_tokens_per_s=tokens / duration_s if duration_s > 0 else 0.0,
        tokens_per_request=tokens / requests if requests else math.nan,
    )


def window_sample(
    latencies_ns: Sequence[int],
    errors: int,
    duration_s: float,
    batch_size: int = 1,
    server: ServerSplit | None = None,
    stream: StreamStats | None = None,
) -> WindowSample:
    """One window's sample. Throughput counts inferences: requests times the batch size."""
    summary = summarize_ns(latencies_ns)
    requests = summary.count
    throughput = requests * batch_size / duration_s if duration_s > 0 else 0.0
    split = server or ServerSplit()
    return WindowSample(
        duration_s=duration_s,
        requests=requests,
        errors=errors,
        throughput=throughput,
        avg_ms=summary.avg_ms,
        p50_ms=summary.p50_ms,
        p90_ms=summary.p90_ms,
        p95_ms=summary.p95_ms,
        p99_ms=summary.p99_ms,
        server=split,
        client_overhead_us=client_overhead_us(summary.avg_ms, split),
        stream=stream,
    )


def client_overhead_us(client_avg_ms: float, server: ServerSplit) -> float:
    """Per-request time spent outside Triton (client + network): client latency - server total.

    Zero when the server reported nothing for the window (no split to subtract).
    """
    if server.requests == 0 or not math.isfinite(client_avg_ms):
        return 0.0
    return max(0.0, client_avg_ms * 1000.0 - server.total_us)


def spread_pct(values: Sequence[float]) -> float:
    """Largest deviation of any value from the mean, in percent of the mean (inf if undefined)."""
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) != len(values) or not finite:
        return math.inf
    mean = sum(finite) / len(finite)
    if mean == 0:
        return 0.0 if all(v == 0 for v in finite) else math.inf
    return max(abs(v - mean) for v in finite) / abs(mean) * 100.0


def is_stable(
    windows: Sequence[WindowSample], stability_pct: float, latency_stat: str, last: int = 3
) -> bool:
    """perf_analyzer's rule: each of the last `last` windows within ±pct of their mean, for
    throughput and for the judged latency statistic. Fewer windows are never stable, and a
    window without a completed request (NaN latency) never is either.
    """
    if len(windows) < last:
        return False
    recent = windows[-last:]
    if any(w.requests == 0 for w in recent):
        return False
    throughput = [w.throughput for w in recent]
    latency = [float(getattr(w, f"{latency_stat}_ms")) for w in recent]
    return spread_pct(throughput) <= stability_pct and spread_pct(latency) <= stability_pct


def plateaued(throughputs: Sequence[float], steps: int = 4, min_gain_pct: float = 5.0) -> bool:
    """Model Analyzer's stop rule: over the last `steps` points, the best throughput gained no
    more than `min_gain_pct` over the first of them. Fewer points than `steps`: keep going.
    """
    if len(throughputs) < steps:
        return False
    recent = throughputs[-steps:]
    first = recent[0]
    if first <= 0:
        return max(recent) <= 0
    gain = (max(recent) - first) / first * 100.0
    return gain <= min_gain_pct


# -- the server-side split from the statistics extension ----------------------------------------

_PARTS = ("success", "queue", "compute_input", "compute_infer", "compute_output")


def inference_counters(
    stats: Mapping[str, Any], version: str | None = None
) -> dict[str, tuple[int, int]]:
    """(count, ns) per part from a `/v2/models/<m>[/versions/<v>]/stats` response, summed over
    the versions it lists (or only `version`)."""
    totals = {p: [0, 0] for p in _PARTS}
    for model in stats.get("model_stats", []):
        if version is not None and str(model.get("version", "")) != str(version):
            continue
        inference = model.get("inference_stats", {})
        for part in _PARTS:
            entry = inference.get(part, {})
            totals[part][0] += int(entry.get("count", 0))
            totals[part][1] += int(entry.get("ns", 0))
    return {p: (c, ns) for p, (c, ns) in totals.items()}


def server_split(
    before: Mapping[str, tuple[int, int]], after: Mapping[str, tuple[int, int]]
) -> ServerSplit:
    """Average per-request server time between two cumulative snapshots.

    Every part is divided by the number of successful requests (as perf_analyzer does), so the
    parts add up to the success time; what is left of it is Triton's own overhead.
    """
    requests = after["success"][0] - before["success"][0]
    if requests <= 0:
        return ServerSplit()

    def per_request_us(part: str) -> float:
        return (after[part][1] - before[part][1]) / requests / 1000.0

    success = per_request_us("success")
    queue = per_request_us("queue")
    c_in = per_request_us("compute_input")
    c_infer = per_request_us("compute_infer")
    c_out = per_request_us("compute_output")
    return ServerSplit(
        queue_us=queue,
        compute_input_us=c_in,
        compute_infer_us=c_infer,
        compute_output_us=c_out,
        overhead_us=max(0.0, success - queue - c_in - c_infer - c_out),
        requests=requests,
    )


def merge_splits(splits: Sequence[ServerSplit]) -> ServerSplit:
    """Request-weighted average of window splits (the step's split)."""
    total = sum(s.requests for s in splits)
    if total == 0:
        return ServerSplit()

    def avg(attr: str) -> float:
        return float(sum(getattr(s, attr) * s.requests for s in splits)) / total

    return ServerSplit(
        queue_us=avg("queue_us"),
        compute_input_us=avg("compute_input_us"),
        compute_infer_us=avg("compute_infer_us"),
        compute_output_us=avg("compute_output_us"),
        overhead_us=avg("overhead_us"),
        requests=total,
    )
