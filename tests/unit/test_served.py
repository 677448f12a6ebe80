"""A model that did not answer fails its test, with or without an SLO (judge/served.py)."""

import math
from dataclasses import replace

from pytest_triton.judge.served import render, unserved
from pytest_triton.result import Measurement, StepResult
from pytest_triton.spec import SLO


def step(c: int, requests: int = 1000, errors: int = 0, timeouts: int = 0) -> StepResult:
    p = 2.0 if requests else math.nan
    return StepResult(
        concurrency=c,
        request_rate=None,
        windows=(),
        stable=True,
        throughput=requests / 2.0,
        avg_ms=p,
        p50_ms=p,
        p90_ms=p,
        p95_ms=p,
        p99_ms=p,
        requests=requests,
        errors=errors,
        timeouts=timeouts,
    )


def measured(*steps: StepResult) -> Measurement:
    return Measurement("m", None, steps, 1.0)


def test_a_healthy_measurement_is_served():
    assert unserved(measured(step(1), step(2)), None) == []


def test_unanswered_requests_fail_even_after_a_good_step_and_without_an_slo():
    (found,) = unserved(measured(step(1), step(2, timeouts=1)), None)
    assert found.step == "c2" and "1 of 1001 request(s) got no answer" in found.problem


def test_a_step_that_answered_nothing_fails_and_quotes_triton():
    silent = replace(step(1, requests=0, errors=7), error_samples=("Stub process is not healthy",))
    (found,) = unserved(measured(silent), SLO(max_error_rate=0.5))
    assert found.problem == "all 7 request(s) failed"
    text = render("m", [found])
    assert "c1: all 7 request(s) failed" in text and "Triton: Stub process is not healthy" in text
    (nothing,) = unserved(measured(step(1, requests=0)), None)
    assert nothing.problem == "no request was answered"


def test_failed_requests_are_tolerated_only_up_to_a_declared_error_rate():
    some = step(1, errors=3)
    (found,) = unserved(measured(some), None)
    assert "3 of 1003 request(s) failed" in found.problem and "max_error_rate" in found.problem
    assert unserved(measured(some), SLO(max_error_rate=0.01)) == []


def test_probes_are_judged_only_for_unanswered_requests():
    """An auto ramp ends at a probe whose requests went unanswered: that must still fail."""
    probe = replace(step(1, requests=0), probe=True)
    assert unserved(measured(probe), None) == []
    (found,) = unserved(measured(replace(probe, timeouts=2)), None)
    assert found.step == "c1" and "2 of 2 request(s) got no answer" in found.problem


def test_failures_outside_the_measured_windows_fail_too():
    """A stub that crashes as a step starts fails requests in the warm-up or in an attempt the
    step retried: not in the step's figures, but a failure all the same."""
    (found,) = unserved(measured(replace(step(2), errors_outside=4)), None)
    assert found.step == "c2" and "4 of 1004 request(s) failed" in found.problem
    assert unserved(measured(replace(step(2), errors_outside=4)), SLO(max_error_rate=0.01)) == []
