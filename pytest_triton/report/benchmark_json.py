"""pytest-benchmark's JSON format, so tools that already read it (`pytest-benchmark compare`,
github-action-benchmark's `pytest` tool) read our measurements.

Each measured step is one benchmark named after its test and load point
("test_tiny.py::test_tiny[tiny c4]"). pytest-benchmark times rounds of a function; ours are
the step's measured windows, each round's time its mean request latency, so min/max/mean/
median/stddev are over those windows, `ops` is requests per second per client
(1 / mean latency). The step's throughput and pooled latency percentiles are in `extra_info`.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import statistics
from collections.abc import Sequence
from typing import Any

from pytest_triton.report.outcome import TestEntry
from pytest_triton.report.provenance import commit_info, machine_info
from pytest_triton.result import StepResult
from pytest_triton.server.base import ServerIdentity

FORMAT_VERSION = "5.3.1"  # the pytest-benchmark release whose format this follows


def render_benchmark_json(entries: Sequence[TestEntry], server: ServerIdentity | None) -> str:
    benchmarks = [
        _benchmark(entry.nodeid, record.measurement.model, step, server)
        for entry in entries
        for record in entry.results
        for step in record.measurement.steps
        if not step.probe and step.measured
    ]
    document = {
        "machine_info": machine_info(),
        "commit_info": commit_info(),
        "benchmarks": benchmarks,
        "datetime": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        "version": FORMAT_VERSION,
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _benchmark(
    nodeid: str, model: str, step: StepResult, server: ServerIdentity | None
) -> dict[str, Any]:
    rounds = [w.avg_ms / 1000.0 for w in step.measured if math.isfinite(w.avg_ms)]
    ordered = sorted(rounds) or [math.nan]
    q1, median, q3 = _quartiles(ordered)
    mean = statistics.fmean(ordered)
    stddev = statistics.stdev(ordered) if len(ordered) > 1 else 0.0
    iqr = q3 - q1
    test, _, _ = nodeid.partition("[")
    name = f"{test.rpartition('::')[2]}[{model} {step.load_point}]"
    extra: dict[str, Any] = {
        "model": model,
        "load_point": step.load_point,
        "throughput_infer_per_s": step.throughput,
        "requests": step.requests,
        "errors": step.errors,
        "stable": step.stable,
        **{f"{p}_ms": getattr(step, f"{p}_ms") for p in ("avg", "p50", "p90", "p95", "p99")},
    }
    if step.stream is not None:
        extra["ttft_p50_ms"] = step.stream.ttft_p50_ms
        extra["itl_p50_ms"] = step.stream.itl_p50_ms
        extra["output_tokens_per_s"] = step.stream.output_tokens_per_s
    if server is not None:
        extra["triton_version"] = server.version
    return {
        "group": model,
        "name": name,
        "fullname": f"{test}[{model} {step.load_point}]",
        "params": {"model": model, "load": step.load_point},
        "param": f"{model} {step.load_point}",
        "extra_info": _finite(extra),
        "options": {"timer": "window mean request latency", "warmup": True},
        "stats": _finite(
            {
                "min": ordered[0],
                "max": ordered[-1],
                "mean": mean,
                "stddev": stddev,
                "rounds": len(rounds),
                "median": median,
                "iqr": iqr,
                "q1": q1,
                "q3": q3,
                "iqr_outliers": sum(1 for r in ordered if r < q1 - 1.5 * iqr or r > q3 + 1.5 * iqr),
                "stddev_outliers": sum(1 for r in ordered if abs(r - mean) > stddev),
                "outliers": "0;0",
                "ld15iqr": ordered[0],
                "hd15iqr": ordered[-1],
                "ops": 1.0 / mean if mean > 0 else 0.0,
                "total": sum(rounds),
                "iterations": 1,
            }
        ),
    }


def _quartiles(ordered: Sequence[float]) -> tuple[float, float, float]:
    if len(ordered) < 2:
        return ordered[0], ordered[0], ordered[0]
    q1, q2, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    return q1, q2, q3


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: an unknown figure is null."""
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()
    }
