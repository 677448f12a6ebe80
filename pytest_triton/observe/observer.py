"""Snapshots of what the server says about itself, taken at every window boundary.

A window's server-side split is the difference of two cumulative statistics snapshots (what
perf_analyzer does); metrics and NVML readings at the same instants give the step's resource use.

The statistics of every loaded model are read, so the models an ensemble or a BLS model ran
for it (any other model whose count of successes rose during the window: nothing else is
measured at the same time) get splits of their own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pytest_triton.errors import MeasurementError
from pytest_triton.load.server_reads import all_model_stats
from pytest_triton.load.stats import inference_counters, server_split
from pytest_triton.observe.metrics import scrape
from pytest_triton.observe.nvml import NvmlReader
from pytest_triton.result import ServerSplit
from pytest_triton.server.base import Endpoints

Counters = dict[str, tuple[int, int]]


@dataclass(frozen=True)
class Snapshot:
    t_ns: int
    counters: Counters | None  # None: statistics could not be read
    gauges: dict[str, float] = field(default_factory=dict)
    others: dict[str, Counters] = field(default_factory=dict)  # every other loaded model


class Observer:
    def __init__(
        self,
        endpoints: Endpoints,
        model: str,
        version: str | None,
        nvml: NvmlReader | None = None,
        others_measured: frozenset[str] = frozenset(),
        gpus: str = "all",
    ) -> None:
        self._endpoints = endpoints
        self._model = model
        # models measured at the same time (load/together.py): loaded beside it, not by it
        self._ignored = others_measured | {model}
        self._version = version
        self._nvml = nvml if nvml is not None else NvmlReader(selection=gpus)
        self._metrics = endpoints.metrics
        self.failures: list[str] = []  # statistics reads that failed (reported as notes)

    def snapshot(self) -> Snapshot:
        t = time.monotonic_ns()
        counters: Counters | None
        others: dict[str, Counters] = {}
        try:
            entries = all_model_stats(self._endpoints.http).get("model_stats", [])
            by_model: dict[str, list[Any]] = {}
            for entry in entries:
                by_model.setdefault(str(entry.get("name", "")), []).append(entry)
            own = by_model.get(self._model, [])
            counters = inference_counters({"model_stats": own}, self._version)
            others = {
                n: inference_counters({"model_stats": e})
                for n, e in by_model.items()
                if n not in self._ignored
            }
        except MeasurementError as exc:
            counters = None  # the split of this window is unknown; liveness is checked elsewhere
            self.failures.append(str(exc))
        gauges: dict[str, float] = {}
        if self._metrics:
            gauges.update(scrape(self._metrics))
        gauges.update(self._nvml.read())
        return Snapshot(t, counters, gauges, others)

    def close(self) -> None:
        self._nvml.close()


def split_between(before: Snapshot, after: Snapshot) -> ServerSplit:
    if before.counters is None or after.counters is None:
        return ServerSplit()
    return server_split(before.counters, after.counters)


def composing_between(before: Snapshot, after: Snapshot) -> dict[str, ServerSplit]:
    """The splits of the other models that served requests between the snapshots."""
    out: dict[str, ServerSplit] = {}
    for name, counters in after.others.items():
        earlier = before.others.get(name)
        if earlier is None or counters["success"][0] <= earlier["success"][0]:
            continue
        out[name] = server_split(earlier, counters)
    return out
