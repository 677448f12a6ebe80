"""Judge a Measurement against an SLO; the result renders as the small table users see.

Latency and error-rate bounds must hold at every measured step: a user who asks for
concurrency 1, 4 and 8 under p99 <= 10 ms means all three. Throughput bounds ask whether the
model *can* serve that much, so they are met by the best step whose latency bounds hold. An
`auto` ramp stops where a latency bound breaks by design, so there only steps within the
bounds count and the breaking step is not a failure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from pytest_triton.result import Measurement, StepResult, metric_value
from pytest_triton.spec import SLO, STREAM_LATENCIES


@dataclass(frozen=True)
class SLORow:
    bound: str  # "p99_ms", "min_throughput", ...
    limit: float
    measured: float | None  # None: nothing measured could satisfy it
    step: str  # load point the measured value comes from
    passed: bool

    @property
    def label(self) -> str:
        return _LABELS.get(self.bound, self.bound)


@dataclass(frozen=True)
class SLOCheck:
    model: str
    rows: tuple[SLORow, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    def render(self) -> str:
        verdict = "met" if self.passed else "NOT met"
        lines = [f"SLO {verdict} for model {self.model!r}:"]
        lines.append(f"  {'bound':<16} {'limit':>12} {'measured':>12}  {'step':<6} result")
        for r in self.rows:
            unit = _UNITS.get(r.bound, "")
            measured = "-" if r.measured is None else f"{r.measured:.2f}{unit}"
            lines.append(
                f"  {r.label:<16} {r.limit:>10.2f}{unit:<2} {measured:>12}  {r.step:<6} "
                f"{'pass' if r.passed else 'FAIL'}"
            )
        return "\n".join(lines)


_LABELS = {
    "p50_ms": "p50 latency",
    "p90_ms": "p90 latency",
    "p95_ms": "p95 latency",
    "p99_ms": "p99 latency",
    "avg_ms": "avg latency",
    "min_throughput": "min throughput",
    "max_error_rate": "max error rate",
    "min_capacity": "min capacity",
    "max_gpu_memory_mb": "max GPU memory",
    **{f"{n}_ms": f"{n.split('_')[1]} {n.split('_')[0].upper()}" for n in STREAM_LATENCIES},
    "min_output_tokens_per_s": "min tokens/s",
}
_UNITS = {
    "p50_ms": "ms",
    "p90_ms": "ms",
    "p95_ms": "ms",
    "p99_ms": "ms",
    "avg_ms": "ms",
    "min_throughput": "/s",
    "min_capacity": "/s",
    "max_gpu_memory_mb": "MB",
    **{f"{n}_ms": "ms" for n in STREAM_LATENCIES},
    "min_output_tokens_per_s": "/s",
}


def within_latency(step: StepResult, slo: SLO) -> bool:
    """Whether a step meets every latency and error-rate bound of the SLO (an unknown latency
    never does: NaN compares false)."""
    ok = all(step.latency(stat) <= bound for stat, bound in slo.latency_bounds().items())
    if slo.max_error_rate is not None:
        ok = ok and step.error_rate <= slo.max_error_rate
    return ok


def check_slo(measurement: Measurement, slo: SLO, ramp: bool = False) -> SLOCheck:
    """Judge `measurement`; with `ramp`, steps past a latency bound are probes, not failures."""
    steps = list(measurement.steps)
    judged = [s for s in steps if within_latency(s, slo)] if ramp else steps
    rows: list[SLORow] = []
    for stat, bound in slo.latency_bounds().items():
        rows.append(_worst(judged, f"{stat}_ms", bound, _latency_of(stat)))
    if slo.max_error_rate is not None:
        rows.append(_worst(judged, "max_error_rate", slo.max_error_rate, lambda s: s.error_rate))
    if slo.min_throughput is not None:
        good = [s for s in steps if within_latency(s, slo)]
        best = max(good, key=lambda s: s.throughput, default=None)
        rows.append(
            SLORow(
                "min_throughput",
                slo.min_throughput,
                best.throughput if best else None,
                best.load_point if best else "-",
                best is not None and best.throughput >= slo.min_throughput,
            )
        )
    if slo.min_output_tokens_per_s is not None:
        good = [s for s in steps if within_latency(s, slo) and s.stream is not None]
        top = max(good, key=lambda s: metric_value(s, "output_tokens_per_s"), default=None)
        tokens = metric_value(top, "output_tokens_per_s") if top else None
        rows.append(
            SLORow(
                "min_output_tokens_per_s",
                slo.min_output_tokens_per_s,
                tokens,
                top.load_point if top else "-",
                tokens is not None and tokens >= slo.min_output_tokens_per_s,
            )
        )
    if slo.min_capacity is not None:
        capacity = measurement.capacity
        rows.append(
            SLORow(
                "min_capacity",
                slo.min_capacity,
                capacity,
                "ramp",
                capacity is not None and capacity >= slo.min_capacity,
            )
        )
    if slo.max_gpu_memory_mb is not None:
        used = [s.metrics["gpu_memory_used_mb"] for s in steps if "gpu_memory_used_mb" in s.metrics]
        peak = max(used, default=None)
        rows.append(
            SLORow(
                "max_gpu_memory_mb",
                slo.max_gpu_memory_mb,
                peak,
                "peak",
                # No GPU reading: pass only if the bound cannot matter (nothing to measure is not
                # a breach), and say so by showing "-".
                peak is None or peak <= slo.max_gpu_memory_mb,
            )
        )
    return SLOCheck(measurement.model, tuple(rows))


def _latency_of(stat: str) -> Callable[[StepResult], float]:
    return lambda step: step.latency(stat)


def _worst(
    steps: list[StepResult], bound: str, limit: float, value: Callable[[StepResult], float]
) -> SLORow:
    if not steps:
        return SLORow(bound, limit, None, "-", False)
    # A step without the figure (no request answered: NaN) is the worst, whatever the order of
    # the steps: max() skips a NaN that does not come first, since it compares false.
    unknown = next((s for s in steps if not math.isfinite(value(s))), None)
    if unknown is not None:
        return SLORow(bound, limit, None, unknown.load_point, False)
    worst = max(steps, key=value)
    measured = float(value(worst))
    return SLORow(bound, limit, measured, worst.load_point, measured <= limit)
