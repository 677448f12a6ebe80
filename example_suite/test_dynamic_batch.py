"""Dynamic batching: under concurrent load Triton groups requests into one execution."""

import pytest


@pytest.mark.triton_model("dynamic_batch")
@pytest.mark.triton_load(concurrency=[1, 8])
@pytest.mark.triton_slo(p99_ms=250, max_error_rate=0)
def test_dynamic_batching_raises_throughput(triton):
    measurement = triton.measure()
    c1, c8 = measurement.step("c1"), measurement.step("c8")
    # Batches of up to 8 share one execution's fixed cost, so throughput grows with load.
    assert c8.throughput > 1.5 * c1.throughput
