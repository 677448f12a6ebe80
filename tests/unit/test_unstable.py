"""An unstable step's warning names the cause its figures show."""

from __future__ import annotations

from dataclasses import replace

from baseline_factories import measurement_from_latencies

from pytest_triton.judge.unstable import likely_cause


def test_the_cause_of_an_unstable_step_is_named_when_its_figures_show_it() -> None:
    step = replace(measurement_from_latencies([5.0, 5.1, 4.9]).steps[0], stable=False)
    assert likely_cause(step) == ""
    saturated = replace(step, metrics={"cpu_utilization": 0.99})
    assert "CPUs were saturated" in likely_cause(saturated)
    assert "OMP_NUM_THREADS=1" in likely_cause(saturated)
    bound = replace(step, client_bound=True, metrics={"client_cpu": 0.97})
    assert likely_cause(bound).startswith("the load generator was the limit")
    assert likely_cause(replace(step, metrics={"cpu_utilization": 0.6})) == ""
