"""The smallest model: Triton + python backend overhead, judged against a latency SLO."""

import pytest


@pytest.mark.triton_model("tiny")
@pytest.mark.triton_load(concurrency=[1, 4])
@pytest.mark.triton_slo(p99_ms=50, min_throughput=100, max_error_rate=0)
def test_tiny_meets_its_slo(triton):
    measurement = triton.measure()
    assert [s.load_point for s in measurement.steps] == ["c1", "c4"]
    # More outstanding requests should not lower throughput on an idle server.
    assert measurement.step("c4").throughput >= 0.8 * measurement.step("c1").throughput
