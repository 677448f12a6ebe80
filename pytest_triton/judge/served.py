"""Whether the model answered at all: judged for every measurement, with or without an SLO.

A step whose requests went unanswered, all failed, or left no latency to judge has no figures
that could meet a bound; judged as figures it would pass (0 infer/s, "p99 -"), so it is a
failure of its own, quoting Triton's error. Failed requests are tolerated only up to an SLO's
`max_error_rate`: without one, any failed request fails the test, as perf_analyzer stops on one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pytest_triton.load.points import LATENCY_STATS
from pytest_triton.result import Measurement, StepResult
from pytest_triton.spec import SLO


@dataclass(frozen=True)
class Unserved:
    """One step at which the model did not serve its requests."""

    step: str
    problem: str
    errors: tuple[str, ...]  # Triton's own words, as the requests' errors carried them


def unserved(measurement: Measurement, slo: SLO | None) -> list[Unserved]:
    """The measured steps at which requests went unanswered or failed. A probe (one short
    window of an `auto` ramp) is judged only for unanswered requests: the ramp stops at one
    that has them, and it is then the only step that shows the model stopped answering."""
    tolerated = slo.max_error_rate if slo is not None else None
    found: list[Unserved] = []
    for step in measurement.steps:
        if step.probe and not step.timeouts:
            continue
        problem = _problem(step, tolerated)
        if problem is not None:
            found.append(Unserved(step.load_point, problem, step.error_samples))
    return found


def _problem(step: StepResult, tolerated: float | None) -> str | None:
    sent = step.requests + step.errors + step.timeouts
    if step.timeouts:
        return (
            f"{step.timeouts} of {sent} request(s) got no answer within the request timeout "
            "(triton_load(request_timeout_s=...))"
        )
    if step.requests == 0:
        if step.errors:
            return f"all {step.errors} request(s) failed"
        return "no request was answered"
    if any(not math.isfinite(step.latency(stat)) for stat in LATENCY_STATS):
        return "its latency percentiles are unknown"
    failed = step.errors + step.errors_outside
    if failed and tolerated is None:
        return (
            f"{failed} of {sent + step.errors_outside} request(s) failed (declare "
            "triton_slo(max_error_rate=...) to tolerate some)"
        )
    return None


def render(model: str, found: list[Unserved]) -> str:
    lines = [f"model {model!r} did not serve its requests:"]
    for u in found:
        lines.append(f"  {u.step}: {u.problem}")
        lines.extend(f"    Triton: {e}" for e in u.errors)
    return "\n".join(lines)
