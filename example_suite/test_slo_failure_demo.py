"""What a breached SLO looks like. Deselected by default; run it with:

    pytest example_suite -m slo_failure_demo

The test fails with a table like:

    SLO NOT met for model 'numpy_compute':
      bound                   limit     measured  step   result
      p99 latency            0.05ms       3.10ms  c1     FAIL
      min throughput     100000.00/s    320.55/s  c1     FAIL
"""

import pytest


@pytest.mark.slo_failure_demo
@pytest.mark.triton_model("numpy_compute")
@pytest.mark.triton_slo(p99_ms=0.05, min_throughput=100000)
def test_an_slo_nobody_can_meet(triton):
    triton.measure(concurrency=[1])
