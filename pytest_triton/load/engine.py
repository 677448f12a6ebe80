"""The measurement engine: load points -> stable steps -> Measurement.

Modes:
- a list of concurrencies (or a range): each is measured to stability, in order;
- request rates (open loop): each rate is measured the same way, latency timed from the
  scheduled send;
- `auto`: quick single-window probes double concurrency from 1 until throughput plateaus
  (Model Analyzer's rule) or an SLO latency bound breaks; then only the point that matters,
  the knee (the lowest concurrency whose throughput is within the plateau gain of the best
  probe), is measured to stability, then the next doubling, climbing while it still gains
  more than the plateau gain (a lucky probe cannot fake an early plateau); capacity search
  runs around an SLO breach when asked.
  Probes are reported (progress, `extra["probes"]`) but never judged: their single window has
  no stability.
- capacity at SLO (when the SLO sets min_capacity, or find_capacity): binary search between
  the last passing and the first failing step for the highest throughput whose latency bounds
  hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_triton.errors import ConfigError
from pytest_triton.observe.observer import Observer
from pytest_triton.result import CAPACITY_LOWER_BOUND, BlockPair, Measurement, StepResult
from pytest_triton.server.base import Endpoints
from pytest_triton.spec import SLO, LoadSpec

from . import server_reads
from .driver import Driver, make_driver
from .paired import PairedRunner
from .points import validate_load_spec
from .ramp import Progress, Ramp, StepRunner
from .step import LoadPoint, StepSettings
from .step_lock import StepLock


def measure(
    endpoints: Endpoints,
    model: str,
    version: str | None,
    load: LoadSpec,
    slo: SLO | None = None,
    *,
    is_alive: Callable[[], bool] | None = None,
    progress: Progress | None = None,
    data: Any = None,
    probes_only: bool = False,
    probes: Sequence[StepResult] = (),
    step_lock: StepLock | None = None,
    gpus: str = "all",
) -> Measurement:
    """Measure `model` on a running server at the load points of `load`.

    `is_alive` says whether the server process still runs (checked between polls, so a dead
    server fails the step within a fraction of a second); without it the HTTP live endpoint
    is asked. `progress` receives every finished step, probes included. `data` optionally
    gives input tensors (a mapping name -> array, a list of them, or a file path).
    `probes_only` (an `auto` load only): stop after the probes, which are then the steps.
    `probes` (an `auto` load only): probes already taken of this model as loaded (a look
    with `probes_only`): the ramp starts from them instead of probing again.
    `step_lock`: held around every step (pytest-xdist workers take turns, step_lock.py).
    `gpus`: the GPUs NVML readings are of ('all', 'none', '0,2'): those the server uses.
    Raises ConfigError / MeasurementError / ServerDiedError.
    """
    current, _ = _measure(
        endpoints, model, None, version, load, slo, is_alive, progress, data, probes_only,
        probes, step_lock, gpus,
    )  # fmt: skip
    return current


@dataclass(frozen=True)
class PairedMeasurement:
    """What measure_paired returns: both builds' steps, and each load point's block pairs."""

    current: Measurement
    baseline: Measurement
    pairs: Mapping[str, tuple[BlockPair, ...]]  # load point -> its pairs, in time order


def measure_paired(
    endpoints: Endpoints,
    model: str,
    baseline_model: str,
    version: str | None,
    load: LoadSpec,
    slo: SLO | None = None,
    *,
    is_alive: Callable[[], bool] | None = None,
    progress: Progress | None = None,
    data: Any = None,
    step_lock: StepLock | None = None,
    gpus: str = "all",
) -> PairedMeasurement:
    """Measure `model` and `baseline_model` (the baseline build's copy, loaded beside it) in
    alternation at every load point (load/paired.py). The ramp's decisions (auto, capacity)
    follow the current model."""
    _, paired = _measure(
        endpoints, model, baseline_model, version, load, slo, is_alive, progress, data,
        step_lock=step_lock, gpus=gpus,
    )  # fmt: skip
    assert paired is not None
    return paired


def _measure(
    endpoints: Endpoints,
    model: str,
    baseline_model: str | None,
    version: str | None,
    load: LoadSpec,
    slo: SLO | None,
    is_alive: Callable[[], bool] | None,
    progress: Progress | None,
    data: Any,
    probes_only: bool = False,
    probes: Sequence[StepResult] = (),
    step_lock: StepLock | None = None,
    gpus: str = "all",
) -> tuple[Measurement, PairedMeasurement | None]:
    validate_load_spec(load)
    started = time.monotonic()
    alive = is_alive if is_alive is not None else (lambda: server_reads.server_live(endpoints.http))
    observers = [Observer(endpoints, model, version, gpus=gpus)]
    drivers: list[Driver] = []
    paired: PairedRunner | None = None
    try:
        drivers.append(make_driver(endpoints, model, version, load, observers[0], alive, data))
        if slo is not None and slo.stream_bounds() and not drivers[0].streaming:
            raise ConfigError(
                f"{', '.join(slo.stream_bounds())}: model {model!r} is not decoupled, so it has "
                "no tokens to time; bound its latency with p50_ms ... p99_ms instead"
            )
        run: StepRunner = drivers[0].run_step
        if baseline_model is not None:
            observers.append(Observer(endpoints, baseline_model, version, gpus=gpus))
            drivers.append(
                make_driver(endpoints, baseline_model, version, load, observers[1], alive, data)
            )
            paired = PairedRunner(drivers[0], drivers[1])
            run = paired.run_step
        if step_lock is not None:
            run = _holding(step_lock, run)
        ramp = Ramp(run, load, slo, progress, probes_only, probes)
        steps, capacity, notes = ramp.run()
        for driver in drivers:
            notes.extend(driver.notes)
        failures = [f for o in observers for f in o.failures]
        if failures:
            notes.append(
                f"{len(failures)} statistics read(s) failed, those windows have no "
                f"server split: {failures[0]}"
            )
    finally:
        for driver in drivers:
            driver.close()
        for observer in observers:
            observer.close()
    extra: dict[str, Any] = {"driver": drivers[0].name if drivers else load.driver}
    if ramp.probes and not probes_only:
        extra["probes"] = tuple(ramp.probes)
    if ramp.capacity_lower_bound:
        extra[CAPACITY_LOWER_BOUND] = True
    elapsed = time.monotonic() - started
    current = Measurement(
        model=model,
        version=version,
        steps=tuple(steps),
        duration_s=elapsed,
        capacity=capacity,
        notes=tuple(dict.fromkeys(notes)),  # keep order, drop repeats
        extra=extra,
    )
    if paired is None or baseline_model is None:
        return current, None
    # Capacity is searched on the current model only: the baseline has none to compare.
    by_point = {s.load_point: s for s in paired.baseline_steps}
    order = [s.load_point for s in steps if s.load_point in by_point]
    baseline = Measurement(
        model=baseline_model,
        version=version,
        steps=tuple(by_point[p] for p in order),
        duration_s=elapsed,
        extra={"driver": extra["driver"]},
    )
    return current, PairedMeasurement(current, baseline, {p: paired.pairs[p] for p in order})


def _holding(lock: StepLock, run: StepRunner) -> StepRunner:
    def locked(point: LoadPoint, settings: StepSettings) -> StepResult:
        with lock.held():
            return run(point, settings)

    return locked
