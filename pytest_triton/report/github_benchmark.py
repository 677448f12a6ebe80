"""github-action-benchmark's custom formats: latencies for its `customSmallerIsBetter` tool,
throughputs for `customBiggerIsBetter`, so its charts and alerts follow our measurements.

Each entry is one figure of one measured step ("test_tiny[tiny c4] p50"), with the spread of
the step's windows as its range.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from typing import Any

from pytest_triton.report.outcome import TestEntry
from pytest_triton.result import StepResult, metric_value
from pytest_triton.server.base import ServerIdentity

# (label, metric_value name, unit) per tool.
SMALLER = (("p50", "p50", "ms"), ("p99", "p99", "ms"), ("TTFT p50", "ttft_p50", "ms"),
           ("ITL p50", "itl_p50", "ms"))  # fmt: skip
BIGGER = (("throughput", "throughput", "infer/s"),
          ("output tokens/s", "output_tokens_per_s", "tokens/s"))  # fmt: skip


def render_smaller(entries: Sequence[TestEntry], server: ServerIdentity | None) -> str:
    return _render(entries, SMALLER)


def render_bigger(entries: Sequence[TestEntry], server: ServerIdentity | None) -> str:
    return _render(entries, BIGGER)


def _render(entries: Sequence[TestEntry], figures: Sequence[tuple[str, str, str]]) -> str:
    out: list[dict[str, Any]] = []
    for entry in entries:
        test = entry.nodeid.partition("[")[0].rpartition("::")[2]
        for record in entry.results:
            model = record.measurement.model
            for step in record.measurement.steps:
                if step.probe or not step.measured:
                    continue
                for label, name, unit in figures:
                    value = metric_value(step, name)
                    if not math.isfinite(value):
                        continue  # a figure this model does not have (no token stream)
                    out.append(
                        {
                            "name": f"{test}[{model} {step.load_point}] {label}",
                            "unit": unit,
                            "value": round(value, 4),
                            "range": _spread(step, name),
                            "extra": f"{entry.nodeid}: {entry.outcome}",
                        }
                    )
    return json.dumps(out, indent=2) + "\n"


def _spread(step: StepResult, name: str) -> str:
    """'± SD' of the figure over the step's measured windows ('' with fewer than two)."""
    values = [v for w in step.measured if math.isfinite(v := metric_value(w, name))]
    return f"± {statistics.stdev(values):.4g}" if len(values) > 1 else ""
