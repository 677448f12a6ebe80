"""Prometheus scrape parsing: real Triton output (CPU build) plus GPU lines in Triton's format."""

from __future__ import annotations

import pytest

from pytest_triton.observe.metrics import parse_prometheus, server_gauges, summarise

TRITON_TEXT = """\
# HELP nv_inference_request_success Number of successful inference requests, all batch sizes
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="tiny",version="1"} 9275
nv_inference_request_failure{model="tiny",reason="BACKEND",version="1"} 0
# HELP nv_cpu_utilization CPU utilization rate [0.0 - 1.0]
# TYPE nv_cpu_utilization gauge
nv_cpu_utilization 0.5125628140703518
nv_cpu_memory_total_bytes 25276514304
nv_cpu_memory_used_bytes 518746112
nv_gpu_utilization{gpu_uuid="GPU-a"} 0.5
nv_gpu_utilization{gpu_uuid="GPU-b"} 1
nv_gpu_memory_used_bytes{gpu_uuid="GPU-a"} 1048576
nv_gpu_memory_used_bytes{gpu_uuid="GPU-b"} 2097152
nv_gpu_power_usage{gpu_uuid="GPU-a"} 70.5
nv_gpu_power_usage{gpu_uuid="GPU-b"} 29.5
"""


def test_parse_labels_and_values():
    parsed = parse_prometheus(TRITON_TEXT)
    assert parsed["nv_inference_request_success"] == [({"model": "tiny", "version": "1"}, 9275.0)]
    failure_labels = parsed["nv_inference_request_failure"][0][0]
    assert failure_labels == {"model": "tiny", "reason": "BACKEND", "version": "1"}
    assert parsed["nv_cpu_utilization"] == [({}, pytest.approx(0.5125628))]


def test_gauges_reduce_over_gpus():
    g = server_gauges(parse_prometheus(TRITON_TEXT))
    assert g["cpu_utilization"] == pytest.approx(0.5125628)
    assert g["cpu_memory_used_mb"] == pytest.approx(518746112 / 2**20)
    assert g["gpu_utilization"] == pytest.approx(0.75)
    assert g["gpu_memory_used_mb"] == pytest.approx(3.0)
    assert g["gpu_power_w"] == pytest.approx(100.0)


def test_cpu_only_server_has_no_gpu_keys():
    cpu_only = "\n".join(x for x in TRITON_TEXT.splitlines() if "gpu" not in x)
    assert not any(k.startswith("gpu") for k in server_gauges(parse_prometheus(cpu_only)))


def test_step_summary_is_mean_except_memory_peak():
    s = summarise([{"cpu_utilization": 0.2, "cpu_memory_used_mb": 100.0},
                   {"cpu_utilization": 0.4, "cpu_memory_used_mb": 300.0}, {}])  # fmt: skip
    assert s == {"cpu_utilization": pytest.approx(0.3), "cpu_memory_used_mb": 300.0}
