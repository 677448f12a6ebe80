"""Snapshots of what the server says about itself, taken at every window boundary.

A window's server-side split is the difference of two cumulative statistics snapshots (what
perf_analyzer does); metrics and NVML readings at the same instants give the step's resource use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pytest_triton.errors import MeasurementError
from pytest_triton.load.server_reads import model_stats
from pytest_triton.load.stats import inference_counters, server_split
from pytest_triton.observe.metrics import scrape
from pytest_triton.observe.nvml import NvmlReader
from pytest_triton.result import ServerSplit
from pytest_triton.server.base import Endpoints


@dataclass(frozen=True)
class Snapshot:
    t_ns: int
    counters: dict[str, tuple[int, int]] | None  # None: statistics could not be read
    gauges: dict[str, float] = field(default_factory=dict)


class Observer:
    def __init__(
        self,
        endpoints: Endpoints,
        model: str,
        version: str | None,
        nvml: NvmlReader | None = None,
    ) -> None:
        self._endpoints = endpoints
        self._model = model
        self._version = version
        self._nvml = nvml if nvml is not None else NvmlReader()
        self._metrics = endpoints.metrics
        self.failures: list[str] = []  # statistics reads that failed (reported as notes)

    def snapshot(self) -> Snapshot:
        t = time.monotonic_ns()
        counters: dict[str, tuple[int, int]] | None
        try:
            stats = model_stats(self._endpoints.http, self._model, self._version)
            counters = inference_counters(stats, self._version)
        except MeasurementError as exc:
            counters = None  # the split of this window is unknown; liveness is checked elsewhere
            self.failures.append(str(exc))
        gauges: dict[str, float] = {}
        if self._metrics:
            gauges.update(scrape(self._metrics))
        gauges.update(self._nvml.read())
        return Snapshot(t, counters, gauges)

    def close(self) -> None:
        self._nvml.close()


def split_between(before: Snapshot, after: Snapshot) -> ServerSplit:
    if before.counters is None or after.counters is None:
        return ServerSplit()
    return server_split(before.counters, after.counters)
