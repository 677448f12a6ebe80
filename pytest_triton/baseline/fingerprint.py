"""The hardware and software identity a baseline is valid for.

A latency measured on one GPU says nothing about another, so a baseline is only compared with a
run whose fingerprint matches. Fields split in two:

* identity fields decide whether two runs are comparable (CPU, GPU, driver/CUDA, server build);
  they feed `Fingerprint.env_id`, the key baselines of several environments are stored under;
* informational fields (binary path, Python, OS) are recorded and named in messages when they
  change, but never block: a venv path differs on every CI runner while the binary's hash does not.

NVML is imported lazily and only when installed: a CPU-only machine pays nothing and simply has
no GPU fields.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import Any

from pytest_triton.errors import ConfigError
from pytest_triton.observe.nvml import selected_gpus
from pytest_triton.server.base import ServerIdentity

# Identity fields in the order messages name them (hardware first: the likeliest cause).
IDENTITY_FIELDS: tuple[str, ...] = (
    "machine",
    "cpu_model",
    "cpu_count",
    "gpu_model",
    "gpu_count",
    "gpu_driver",
    "cuda_version",
    "server_kind",
    "server_version",
    "server_image",
    "server_digest",
)
INFO_FIELDS: tuple[str, ...] = ("server_source", "python", "os")

# Human names used in "what differs" messages.
FIELD_LABELS: Mapping[str, str] = {
    "machine": "CPU architecture",
    "cpu_model": "CPU model",
    "cpu_count": "CPU count",
    "gpu_model": "GPU model",
    "gpu_count": "GPU count",
    "gpu_driver": "GPU driver",
    "cuda_version": "CUDA version",
    "server_kind": "server mode",
    "server_version": "Triton version",
    "server_image": "server image",
    "server_digest": "server build (binary hash / image digest)",
    "server_source": "server binary path / URL",
    "python": "Python",
    "os": "OS",
}

# The opt-in looser policy: same hardware and Triton version, but a driver update, a rebuilt
# image of the same version or a re-installed binary still compares.
LOOSE_IGNORED: frozenset[str] = frozenset(
    {"gpu_driver", "cuda_version", "server_image", "server_digest"}
)


@dataclass(frozen=True)
class Fingerprint:
    """Where a measurement was taken. Empty strings / zero mean "none" or "unknown"."""

    machine: str
    cpu_model: str
    cpu_count: int
    gpu_model: str = ""
    gpu_count: int = 0
    gpu_driver: str = ""
    cuda_version: str = ""
    server_kind: str = ""
    server_version: str = ""
    server_image: str = ""
    server_digest: str = ""
    server_source: str = ""
    python: str = ""
    os: str = ""

    @property
    def env_id(self) -> str:
        """A short stable key over the identity fields: equal ids <=> comparable environments."""
        identity = {name: getattr(self, name) for name in IDENTITY_FIELDS}
        blob = json.dumps(identity, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        """One line for humans: 'AMD EPYC x2 (x86_64), no GPU, Triton 2.51.0 local'."""
        cpu = f"{self.cpu_model or 'unknown CPU'} x{self.cpu_count} ({self.machine})"
        gpu = f"{self.gpu_count}x {self.gpu_model}" if self.gpu_count else "no GPU"
        server = f"Triton {self.server_version or '?'} {self.server_kind}".rstrip()
        if self.server_image:
            server += f" {self.server_image}"
        return f"{cpu}, {gpu}, {server}"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fingerprint:
        """Unknown keys are ignored and missing ones default, so older files stay readable."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name in known:
                values[name] = int(value) if name in ("cpu_count", "gpu_count") else str(value)
        values.setdefault("machine", "")
        values.setdefault("cpu_model", "")
        values.setdefault("cpu_count", 0)
        return cls(**values)


@dataclass(frozen=True)
class FieldDiff:
    """One field that differs between a baseline's environment and the current one."""

    name: str
    baseline: str
    current: str
    blocking: bool  # False: informational, or ignored by the matching policy

    def describe(self) -> str:
        label = FIELD_LABELS.get(self.name, self.name)
        return f"{label}: {self.baseline or '(none)'} → {self.current or '(none)'}"


@dataclass(frozen=True)
class MatchPolicy:
    """Which identity fields may differ while a baseline still compares (opt-in looseness)."""

    ignored: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> MatchPolicy:
        """'strict' (default), 'loose', or a comma list of identity fields to ignore."""
        value = text.strip().lower()
        if value in ("", "strict"):
            return cls()
        if value == "loose":
            return cls(LOOSE_IGNORED)
        names = frozenset(part.strip() for part in value.split(",") if part.strip())
        unknown = sorted(names - set(IDENTITY_FIELDS))
        if unknown:
            raise ConfigError(
                f"unknown fingerprint field(s) {', '.join(unknown)} in the baseline match policy "
                f"{text!r}: use 'strict', 'loose' or a comma list of {', '.join(IDENTITY_FIELDS)}"
            )
        return cls(names)


def differences(
    baseline: Fingerprint, current: Fingerprint, policy: MatchPolicy | None = None
) -> list[FieldDiff]:
    """Every field that differs, identity fields first; `blocking` says whether it prevents
    comparison under `policy`."""
    ignored = (policy or MatchPolicy()).ignored
    diffs: list[FieldDiff] = []
    for name in IDENTITY_FIELDS + INFO_FIELDS:
        old, new = getattr(baseline, name), getattr(current, name)
        if old != new:
            blocking = name in IDENTITY_FIELDS and name not in ignored
            diffs.append(FieldDiff(name, str(old), str(new), blocking))
    return diffs


def is_comparable(
    baseline: Fingerprint, current: Fingerprint, policy: MatchPolicy | None = None
) -> bool:
    return not any(d.blocking for d in differences(baseline, current, policy))


# ---------------------------------------------------------------------------------------------
# Collection


@dataclass(frozen=True)
class GpuInfo:
    model: str = ""
    count: int = 0
    driver: str = ""
    cuda: str = ""


def read_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, int]:
    """CPU model name and the number of CPUs this process may run on.

    The count is the affinity set, not the host's core count: a CI container pinned to 2 of 64
    cores performs like a 2-core machine, and /proc/cpuinfo would still list all 64.
    """
    model = ""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model") and value.strip():
                model = value.strip()
                break
    except OSError:
        pass
    if not model:
        model = platform.processor() or ""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        count = os.cpu_count() or 0
    return model, count


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def read_gpus(
    selection: str = "all", import_nvml: Callable[[], ModuleType | None] | None = None
) -> GpuInfo:
    """GPU model/count/driver/CUDA through NVML; empty when NVML or a GPU is absent.

    Never raises: a broken NVML must not make a CPU-only suite fail, it only means "no GPU".
    """
    nvml = (import_nvml or _import_pynvml)()
    if nvml is None:
        return GpuInfo()
    try:
        nvml.nvmlInit()
    except Exception:  # NVMLError_LibraryNotFound / DriverNotLoaded: a machine without GPUs
        return GpuInfo()
    try:
        indices = selected_gpus(int(nvml.nvmlDeviceGetCount()), selection)
        if not indices:
            return GpuInfo()
        names = sorted(
            {_text(nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(i))) for i in indices}
        )
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        cuda_int = int(nvml.nvmlSystemGetCudaDriverVersion())
        cuda = f"{cuda_int // 1000}.{cuda_int % 1000 // 10}"
        return GpuInfo(" + ".join(names), len(indices), driver, cuda)
    except Exception:
        return GpuInfo()
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()


def _import_pynvml() -> ModuleType | None:
    try:
        return importlib.import_module("pynvml")  # provided by nvidia-ml-py (the 'gpu' extra)
    except ImportError:
        return None


def collect(
    server: ServerIdentity | None,
    *,
    gpu_selection: str = "all",
    cpuinfo: Path = Path("/proc/cpuinfo"),
    import_nvml: Callable[[], ModuleType | None] | None = None,
) -> Fingerprint:
    """The fingerprint of this machine and the server a session measures."""
    cpu_model, cpu_count = read_cpu(cpuinfo)
    gpu = read_gpus(gpu_selection, import_nvml)
    kind = server.kind if server else ""
    # A docker image's name is identity (another image is another build); a local binary's
    # path is not (it moves with the venv), its hash is.
    image = server.source if server and kind == "docker" else ""
    return Fingerprint(
        machine=platform.machine(),
        cpu_model=cpu_model,
        cpu_count=cpu_count,
        gpu_model=gpu.model,
        gpu_count=gpu.count,
        gpu_driver=gpu.driver,
        cuda_version=gpu.cuda,
        server_kind=kind,
        server_version=server.version if server else "",
        server_image=image,
        server_digest=server.digest if server else "",
        server_source=server.source if server else "",
        python=platform.python_version(),
        os=f"{platform.system()} {platform.release()}".strip(),
    )
