"""GPU readings through NVML (the nvidia-ml-py package, module `pynvml`), when a GPU exists.

Triton's own GPU metrics need a GPU build and a metrics port; NVML reads the device directly,
also for a remote or docker server on this machine. Without the package, the library or a GPU
the reader is simply unavailable: a CPU-only run records no GPU metrics instead of failing.
Tests replace the `pynvml` module (the only boundary faked, as CI has no GPU).
"""

from __future__ import annotations

import contextlib
import importlib
from types import ModuleType
from typing import Any


def selected_gpus(count: int, selection: str) -> list[int]:
    """GPU indices chosen by an 'all' / 'none' / '0,2' selection (docker's --gpus spelling)."""
    value = selection.strip().lower()
    if value in ("", "all"):
        return list(range(count))
    if value == "none":
        return []
    indices: list[int] = []
    for part in value.replace("device=", "").split(","):
        part = part.strip()
        if part.isdigit() and int(part) < count:
            indices.append(int(part))
    return indices


class NvmlReader:
    """Reads utilisation, memory and power of every GPU NVML sees.

    Keys (see metrics.py for the server-side twins): nvml_gpu_utilization (0..1, mean),
    nvml_gpu_memory_used_mb (sum), nvml_gpu_power_w (sum), nvml_gpu_count.
    """

    def __init__(self, module: ModuleType | None = None, selection: str = "all") -> None:
        """`selection`: the GPUs read, as --triton-gpus spells them ('all', 'none', '0,2'):
        those the measured server uses."""
        self._nvml: Any = None
        self._handles: list[Any] = []
        self.reason = ""
        try:
            nvml: Any = module if module is not None else importlib.import_module("pynvml")
        except ImportError:
            self.reason = "pynvml (nvidia-ml-py) is not installed"
            return
        try:
            nvml.nvmlInit()
            count = int(nvml.nvmlDeviceGetCount())
            self._handles = [
                nvml.nvmlDeviceGetHandleByIndex(i) for i in selected_gpus(count, selection)
            ]
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
            self.reason = f"NVML unavailable: {exc}"
            return
        if not self._handles:
            self.reason = "NVML sees no GPU"
            nvml.nvmlShutdown()
            return
        self._nvml = nvml

    @property
    def available(self) -> bool:
        return self._nvml is not None

    def read(self) -> dict[str, float]:
        """One reading; {} when unavailable or when the driver stops answering."""
        nvml = self._nvml
        if nvml is None:
            return {}
        util: list[float] = []
        memory = 0.0
        power = 0.0
        have_power = False
        try:
            for h in self._handles:
                util.append(float(nvml.nvmlDeviceGetUtilizationRates(h).gpu) / 100.0)
                memory += float(nvml.nvmlDeviceGetMemoryInfo(h).used) / 2**20
                try:
                    power += float(nvml.nvmlDeviceGetPowerUsage(h)) / 1000.0  # mW -> W
                    have_power = True
                except Exception:  # some boards do not report power: keep the rest
                    pass
        except Exception:
            return {}
        out = {
            "nvml_gpu_utilization": sum(util) / len(util),
            "nvml_gpu_memory_used_mb": memory,
            "nvml_gpu_count": float(len(self._handles)),
        }
        if have_power:
            out["nvml_gpu_power_w"] = power
        return out

    def close(self) -> None:
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
            self._nvml = None
