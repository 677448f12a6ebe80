"""Load drivers behind one interface: a driver measures one load point into a StepResult.

`native` (default, native/) generates load with our own loop in child processes and judges
windows here; `perf_analyzer` (perf_analyzer.py) runs NVIDIA's binary per step and reads its
export. The ramp (ramp.py) only sees `Driver.run_step`. A new driver is a class with this
interface in a module of its own, chosen in `make_driver` by LoadSpec.driver (whose values
points.py validates).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pytest_triton.errors import MeasurementError
from pytest_triton.observe.observer import Observer
from pytest_triton.result import StepResult
from pytest_triton.server.base import Endpoints
from pytest_triton.spec import LoadSpec

from .step import LoadPoint, StepSettings


class Driver(Protocol):
    name: str
    notes: list[str]  # what the measurement's notes should say about this driver's run
    streaming: bool  # the model is decoupled: its steps have stream figures (tokens, TTFT)

    def run_step(self, point: LoadPoint, settings: StepSettings) -> StepResult: ...

    def close(self) -> None: ...


def make_driver(
    endpoints: Endpoints,
    model: str,
    version: str | None,
    load: LoadSpec,
    observer: Observer,
    is_alive: Callable[[], bool],
    data: Any = None,
) -> Driver:
    if load.driver == "perf_analyzer":
        from .perf_analyzer import PerfAnalyzerDriver

        if data is not None:
            raise MeasurementError("the perf_analyzer driver takes input data as a .json file path")
        return PerfAnalyzerDriver(endpoints, model, version, load, observer, is_alive)
    from .native.driver import NativeDriver

    return NativeDriver(endpoints, model, version, load, observer, is_alive, data)
