"""A few ms of numpy work per request; two instances should serve more than one."""

import pytest

TWO_INSTANCES = {"instance_group": [{"kind": "KIND_CPU", "count": 2}]}


@pytest.mark.triton_model("numpy_compute")
@pytest.mark.triton_slo(p95_ms=200, max_error_rate=0)
def test_numpy_compute_single_instance(triton):
    measurement = triton.measure(concurrency=[1, 2])
    server = measurement.best.server
    # Nearly all server time is the model's own compute, not queueing, at concurrency 1.
    assert server.compute_infer_us > 0


@pytest.mark.triton_model("numpy_compute", config=TWO_INSTANCES)
@pytest.mark.triton_slo(p95_ms=200)
def test_numpy_compute_two_instances(triton):
    config = triton.load_model("numpy_compute", TWO_INSTANCES)
    assert config["instance_group"][0]["count"] == 2
    triton.measure(concurrency=[2])
