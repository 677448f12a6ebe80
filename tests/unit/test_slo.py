import math
from dataclasses import replace

from pytest_triton.judge.slo import check_slo
from pytest_triton.result import Measurement, StepResult
from pytest_triton.spec import SLO


def step(c: int, thr: float, p99: float, errors: int = 0) -> StepResult:
    return StepResult(
        concurrency=c,
        request_rate=None,
        windows=(),
        stable=True,
        throughput=thr,
        avg_ms=p99 / 2,
        p50_ms=p99 / 2,
        p90_ms=p99 * 0.8,
        p95_ms=p99 * 0.9,
        p99_ms=p99,
        requests=1000,
        errors=errors,
    )


def measurement(*steps: StepResult, capacity: float | None = None) -> Measurement:
    return Measurement("m", None, tuple(steps), 1.0, capacity=capacity)


def test_latency_bounds_hold_at_every_step_and_the_worst_step_is_named():
    check = check_slo(measurement(step(1, 100, 4.0), step(4, 300, 12.0)), SLO(p99_ms=10))
    assert not check.passed
    (row,) = check.rows
    assert (row.measured, row.step, row.passed) == (12.0, "c4", False)
    table = check.render()
    assert "p99 latency" in table and "FAIL" in table and "c4" in table


def test_throughput_is_met_by_the_best_step_within_latency_bounds():
    m = measurement(step(1, 100, 4.0), step(4, 300, 9.0), step(8, 500, 30.0))
    check = check_slo(m, SLO(p99_ms=10, min_throughput=250), ramp=True)
    assert check.passed
    thr = next(r for r in check.rows if r.bound == "min_throughput")
    assert (thr.measured, thr.step) == (300, "c4")


def test_a_ramp_past_the_bound_is_a_probe_but_a_fixed_list_must_all_pass():
    m = measurement(step(1, 100, 4.0), step(8, 500, 30.0))
    assert check_slo(m, SLO(p99_ms=10), ramp=True).passed
    assert not check_slo(m, SLO(p99_ms=10), ramp=False).passed


def test_error_rate_and_capacity():
    m = measurement(step(1, 100, 4.0, errors=10), capacity=80.0)
    check = check_slo(m, SLO(max_error_rate=0.001, min_capacity=100))
    assert [r.passed for r in check.rows] == [False, False]


def test_throughput_with_no_step_inside_latency_bounds_fails_with_nothing_measured():
    check = check_slo(measurement(step(1, 100, 40.0)), SLO(p99_ms=10, min_throughput=1))
    thr = next(r for r in check.rows if r.bound == "min_throughput")
    assert thr.measured is None and not thr.passed


def test_a_step_without_latency_fails_a_latency_bound_whatever_the_order():
    """A step that answered nothing has NaN percentiles; max() skips a NaN that does not come
    first, so a lost step after a good one once passed the SLO."""
    silent = replace(step(2, 0.0, math.nan), requests=0)
    for steps in ((step(1, 100, 4.0), silent), (silent, step(1, 100, 4.0))):
        (row,) = check_slo(measurement(*steps), SLO(p99_ms=10)).rows
        assert (row.passed, row.measured, row.step) == (False, None, "c2")
