"""NVML reader. CI has no GPU, so the `pynvml` module is replaced by a fake: the only boundary
faked in these tests. The fake mimics nvidia-ml-py's API (units: %, bytes, milliwatts)."""

from __future__ import annotations

import types

import pytest

from pytest_triton.observe.nvml import NvmlReader


class NVMLError(Exception):
    pass


def fake_pynvml(gpus: list[dict], init_error: Exception | None = None) -> types.ModuleType:
    nvml = types.ModuleType("pynvml")
    state = {"init": 0, "shutdown": 0}

    def nvmlInit():
        if init_error:
            raise init_error
        state["init"] += 1

    nvml.nvmlInit = nvmlInit
    nvml.nvmlShutdown = lambda: state.__setitem__("shutdown", state["shutdown"] + 1)
    nvml.nvmlDeviceGetCount = lambda: len(gpus)
    nvml.nvmlDeviceGetHandleByIndex = lambda i: gpus[i]
    nvml.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=h["util"], memory=0)
    nvml.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=h["used"], total=h["total"])

    def power(h):
        if h.get("power_mw") is None:
            raise NVMLError("Not Supported")
        return h["power_mw"]

    nvml.nvmlDeviceGetPowerUsage = power
    nvml.state = state
    return nvml


def test_reads_every_gpu():
    gpus = [
        {"util": 50, "used": 2 * 2**30, "total": 16 * 2**30, "power_mw": 100_000},
        {"util": 100, "used": 1 * 2**30, "total": 16 * 2**30, "power_mw": 50_500},
    ]
    module = fake_pynvml(gpus)
    reader = NvmlReader(module)
    assert reader.available
    reading = reader.read()
    assert reading["nvml_gpu_utilization"] == pytest.approx(0.75)
    assert reading["nvml_gpu_memory_used_mb"] == pytest.approx(3 * 1024)
    assert reading["nvml_gpu_power_w"] == pytest.approx(150.5)
    assert reading["nvml_gpu_count"] == 2
    reader.close()
    assert module.state["shutdown"] == 1
    assert reader.read() == {}


def test_reads_only_the_gpus_the_measured_server_uses():
    gpus = [
        {"util": 50, "used": 2 * 2**30, "total": 16 * 2**30, "power_mw": 100_000},
        {"util": 100, "used": 1 * 2**30, "total": 16 * 2**30, "power_mw": 50_500},
    ]
    # a pytest-xdist worker whose server has GPU 1 (--triton-gpus per-worker)
    reading = NvmlReader(fake_pynvml(gpus), selection="1").read()
    assert reading["nvml_gpu_count"] == 1 and reading["nvml_gpu_utilization"] == 1.0
    assert reading["nvml_gpu_memory_used_mb"] == pytest.approx(1024)
    # a container given no GPU: nothing of the machine's is read as its own
    assert not NvmlReader(fake_pynvml(gpus), selection="none").available


def test_the_selection_follows_how_the_server_was_given_its_gpus():
    from pytest_triton.plugin.fixtures import nvml_selection
    from pytest_triton.spec import ServerSpec, frozen_mapping

    assert nvml_selection(ServerSpec("docker", gpus="2,3")) == "2,3"
    local = ServerSpec("local", env=frozen_mapping({"CUDA_VISIBLE_DEVICES": "1"}))
    assert nvml_selection(local) == "1"
    assert nvml_selection(ServerSpec("local")) == "all"


def test_boards_without_power_readings_keep_the_rest():
    reader = NvmlReader(
        fake_pynvml([{"util": 10, "used": 2**20, "total": 2**30, "power_mw": None}])
    )
    reading = reader.read()
    assert "nvml_gpu_power_w" not in reading and reading["nvml_gpu_memory_used_mb"] == 1.0


def test_no_driver_means_unavailable_not_an_error():
    reader = NvmlReader(fake_pynvml([], init_error=NVMLError("Driver Not Loaded")))
    assert not reader.available and "Driver Not Loaded" in reader.reason
    assert reader.read() == {}


def test_no_gpu_means_unavailable():
    reader = NvmlReader(fake_pynvml([]))
    assert not reader.available and reader.reason == "NVML sees no GPU"
