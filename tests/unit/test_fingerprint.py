"""Environment fingerprints: collection from /proc/cpuinfo and NVML, comparison, match policy."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from baseline_factories import fingerprint

from pytest_triton.baseline.fingerprint import (
    Fingerprint,
    MatchPolicy,
    collect,
    differences,
    is_comparable,
    read_cpu,
    read_gpus,
)
from pytest_triton.errors import ConfigError
from pytest_triton.server.base import ServerIdentity

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
cpu cores\t: 2

processor\t: 1
model name\t: AMD EPYC 7B13
"""


def test_cpu_model_comes_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(CPUINFO)
    model, count = read_cpu(info)
    assert model == "AMD EPYC 7B13"
    assert count >= 1


def _fake_nvml(names: list[str], fail_init: bool = False) -> ModuleType:
    """NVML cannot be real here (no GPU): a fake with pynvml's function names and types."""
    module = ModuleType("pynvml")

    def init() -> None:
        if fail_init:
            raise RuntimeError("NVML Shared Library Not Found")

    module.nvmlInit = init  # type: ignore[attr-defined]
    module.nvmlShutdown = lambda: None  # type: ignore[attr-defined]
    module.nvmlDeviceGetCount = lambda: len(names)  # type: ignore[attr-defined]
    module.nvmlDeviceGetHandleByIndex = lambda i: SimpleNamespace(i=i)  # type: ignore[attr-defined]
    module.nvmlDeviceGetName = lambda h: names[h.i].encode()  # type: ignore[attr-defined]  # old pynvml: bytes
    module.nvmlSystemGetDriverVersion = lambda: "550.54.15"  # type: ignore[attr-defined]
    module.nvmlSystemGetCudaDriverVersion = lambda: 12040  # type: ignore[attr-defined]
    return module


def test_gpus_through_nvml_and_selection() -> None:
    nvml = _fake_nvml(["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3", "NVIDIA A10"])
    info = read_gpus("all", lambda: nvml)
    assert (info.count, info.driver, info.cuda) == (3, "550.54.15", "12.4")
    assert info.model == "NVIDIA A10 + NVIDIA H100 80GB HBM3"
    only_first_two = read_gpus("0,1", lambda: nvml)
    assert (only_first_two.count, only_first_two.model) == (2, "NVIDIA H100 80GB HBM3")
    assert read_gpus("none", lambda: nvml).count == 0


def test_no_nvml_or_no_driver_means_no_gpu() -> None:
    assert read_gpus("all", lambda: None).count == 0
    assert read_gpus("all", lambda: _fake_nvml(["X"], fail_init=True)).model == ""


def test_collect_takes_server_identity_and_keeps_binary_path_informational(tmp_path: Path) -> None:
    local = ServerIdentity("local", "2.51.0", "/a/venv/tritonserver", "sha256:1")
    moved = ServerIdentity("local", "2.51.0", "/b/venv/tritonserver", "sha256:1")
    docker = ServerIdentity("docker", "2.51.0", "nvcr.io/triton:24.10-py3", "sha256:2")
    nvml = lambda: None  # noqa: E731
    a, b = collect(local, import_nvml=nvml), collect(moved, import_nvml=nvml)
    assert a.env_id == b.env_id  # another venv path, same binary: same environment
    assert [d.name for d in differences(a, b)] == ["server_source"]
    assert is_comparable(a, b)
    d = collect(docker, import_nvml=nvml)
    assert d.server_image == "nvcr.io/triton:24.10-py3" and a.server_image == ""
    assert not is_comparable(a, d)


def test_differences_name_what_differs() -> None:
    a = fingerprint(gpu_model="NVIDIA A100", gpu_count=1)
    b = fingerprint(gpu_model="NVIDIA H100", gpu_count=1, server_version="2.52.0")
    diffs = differences(a, b)
    assert [(d.name, d.blocking) for d in diffs] == [("gpu_model", True), ("server_version", True)]
    assert diffs[0].describe() == "GPU model: NVIDIA A100 → NVIDIA H100"


def test_loose_policy_ignores_driver_and_build_but_not_hardware() -> None:
    a = fingerprint(gpu_driver="535", server_digest="sha256:1")
    b = fingerprint(gpu_driver="550", server_digest="sha256:2")
    assert not is_comparable(a, b)
    assert is_comparable(a, b, MatchPolicy.parse("loose"))
    assert not is_comparable(a, fingerprint(cpu_model="Intel Xeon"), MatchPolicy.parse("loose"))
    only_driver = MatchPolicy.parse("gpu_driver")
    assert is_comparable(fingerprint(gpu_driver="535"), fingerprint(gpu_driver="550"), only_driver)
    assert not is_comparable(a, b, only_driver)  # the digest still differs


def test_unknown_policy_field_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown fingerprint field"):
        MatchPolicy.parse("gpu_colour")


def test_env_id_is_stable_across_versions() -> None:
    """The id keys environments in committed files: changing it orphans every baseline."""
    assert fingerprint().env_id == "ab60d05f69a0"
    assert Fingerprint.from_dict(fingerprint().to_dict()) == fingerprint()
