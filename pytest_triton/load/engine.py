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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_triton.errors import MeasurementError
from pytest_triton.result import BlockPair, Measurement, StepResult
from pytest_triton.server.base import Endpoints
from pytest_triton.spec import SLO, LoadSpec
from pytest_triton.stats import plateaued

from . import control
from .driver import Driver, NativeDriver
from .observe import Observer
from .paired import PairedRunner
from .ramp import doubling
from .ramp import validate_load_spec as _validate
from .step import LoadPoint, StepSettings, violates

StepRunner = Callable[[LoadPoint, StepSettings], StepResult]
Progress = Callable[[StepResult], None]
# Binary search for capacity stops when the rate interval is this narrow (relative).
_RATE_PRECISION = 0.05
_MAX_SEARCH_STEPS = 6


def validate_load_spec(load: LoadSpec) -> None:
    """Raise ConfigError for a LoadSpec that cannot be measured (callable at collection)."""
    _validate(load)


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
) -> Measurement:
    """Measure `model` on a running server at the load points of `load`.

    `is_alive` says whether the server process still runs (checked between polls, so a dead
    server fails the step within a fraction of a second); without it the HTTP live endpoint
    is asked. `progress` receives every finished step, probes included. `data` optionally
    gives input tensors (a mapping name -> array, a list of them, or a file path).
    Raises ConfigError / MeasurementError / ServerDiedError.
    """
    current, _ = _measure(endpoints, model, None, version, load, slo, is_alive, progress, data)
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
) -> PairedMeasurement:
    """Measure `model` and `baseline_model` (the baseline build's copy, loaded beside it) in
    alternation at every load point (load/paired.py). The ramp's decisions (auto, capacity)
    follow the current model."""
    _, paired = _measure(
        endpoints, model, baseline_model, version, load, slo, is_alive, progress, data
    )
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
) -> tuple[Measurement, PairedMeasurement | None]:
    validate_load_spec(load)
    started = time.monotonic()
    alive = is_alive if is_alive is not None else (lambda: control.server_live(endpoints.http))
    observers = [Observer(endpoints, model, version)]
    drivers: list[Driver] = []
    paired: PairedRunner | None = None
    try:
        drivers.append(make_driver(endpoints, model, version, load, observers[0], alive, data))
        run: StepRunner = drivers[0].run_step
        if baseline_model is not None:
            observers.append(Observer(endpoints, baseline_model, version))
            drivers.append(
                make_driver(endpoints, baseline_model, version, load, observers[1], alive, data)
            )
            paired = PairedRunner(drivers[0], drivers[1])
            run = paired.run_step
        ramp = Ramp(run, load, slo, progress)
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
    if ramp.probes:
        extra["probes"] = tuple(ramp.probes)
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
    return NativeDriver(endpoints, model, version, load, observer, is_alive, data)


class Ramp:
    """Which load points to measure, in what order, and when to stop. Driver-agnostic: it gets
    a step runner, so the rules are unit tested with a fake one."""

    def __init__(
        self, run: StepRunner, load: LoadSpec, slo: SLO | None, progress: Progress | None = None
    ) -> None:
        self._run = run
        self._load = load
        self._slo = slo if slo is not None and not slo.is_empty() else None
        self._progress = progress
        self._settings = StepSettings.from_load(load, slo)
        self.probes: list[StepResult] = []
        self.notes: list[str] = []
        self._measured: dict[LoadPoint, StepResult] = {}

    def _step(self, point: LoadPoint, probe: bool = False) -> StepResult:
        if not probe and point in self._measured:
            return self._measured[point]
        settings = self._settings.as_probe() if probe else self._settings
        step = self._run(point, settings)
        if step.timeouts:
            # The model stopped answering: every further step would wait out its timeout too.
            # Kept as measured even when a probe, so the verdict sees it (served.py).
            self._measured[point] = step
            self.notes.append(f"stopped at {point.label}: requests went unanswered")
            if self._progress is not None:
                self._progress(step)
            raise _Unanswered
        if probe:
            self.probes.append(step)
        else:
            self._measured[point] = step
            if not step.stable:
                self.notes.append(f"step {point.label} did not stabilise: reported as unstable")
            if step.client_bound:
                self.notes.append(
                    f"step {point.label} was limited by the load generator, not the server "
                    f"(client CPU {step.metrics.get('client_cpu', 0):.0%} of a core)"
                )
        if self._progress is not None:
            self._progress(step)
        return step

    @property
    def _wants_capacity(self) -> bool:
        return (
            self._slo is not None
            and bool(self._slo.latency_bounds())
            and (self._slo.min_capacity is not None or self._load.find_capacity)
        )

    def run(self) -> tuple[list[StepResult], float | None, list[str]]:
        try:
            self._run_points()
        except _Unanswered:
            steps = sorted(self._measured.values(), key=_order)
            return steps, None, self.notes
        steps = sorted(self._measured.values(), key=_order)
        capacity = self._capacity(steps) if self._wants_capacity else None
        return steps, capacity, self.notes

    def _run_points(self) -> None:
        load = self._load
        if load.request_rate:
            points = [LoadPoint(rate=r) for r in load.request_rate]
            for p in points:
                self._step(p)
            if self._wants_capacity:
                self._rate_capacity_search()
        elif load.auto:
            self._auto()
        else:
            for c in load.concurrency:
                self._step(LoadPoint(concurrency=c))
            if self._wants_capacity:
                self._concurrency_capacity_search()

    # -- auto ------------------------------------------------------------------------------
    def _auto(self) -> None:
        load = self._load
        probes: list[StepResult] = []
        breached: StepResult | None = None
        for c in doubling(load.max_concurrency):
            step = self._step(LoadPoint(concurrency=c), probe=True)
            if violates(step, self._slo):
                breached = step
                self.notes.append(f"auto ramp stopped at c{c}: an SLO latency bound was exceeded")
                break
            probes.append(step)
            if plateaued([p.throughput for p in probes], load.plateau_steps, load.plateau_gain_pct):
                self.notes.append(
                    f"auto ramp stopped at c{c}: throughput gained under "
                    f"{load.plateau_gain_pct:g}% over the last {load.plateau_steps} steps"
                )
                break
        if not probes:
            # even concurrency 1 breaks the SLO: measure it properly so the verdict is sound
            self._step(LoadPoint(concurrency=1))
            return
        # The knee: the lowest concurrency whose throughput is within the plateau gain of the
        # best. Past it, more concurrency only adds queueing; and unlike the best probe (a coin
        # toss among plateau points) it is the same point from run to run, so baselines match.
        best = max(probes, key=lambda s: s.throughput)
        threshold = best.throughput * (1 - load.plateau_gain_pct / 100.0)
        knee = next(p for p in probes if p.throughput >= threshold)
        assert knee.concurrency is not None
        # A probe is one short window: a lucky one can fake an early plateau. So climb from the
        # knee with stable steps while the next doubling still gains more than the plateau gain.
        points = doubling(load.max_concurrency)
        c = knee.concurrency
        step = self._step(LoadPoint(concurrency=c))
        while c in points and points.index(c) + 1 < len(points):
            nxt = points[points.index(c) + 1]
            if (
                breached is not None
                and breached.concurrency is not None
                and nxt >= breached.concurrency
            ):
                break  # its probe already broke the SLO
            higher = self._step(LoadPoint(concurrency=nxt))
            gain = load.plateau_gain_pct / 100.0
            if violates(higher, self._slo) or higher.throughput <= step.throughput * (1 + gain):
                break
            c, step = nxt, higher
        if breached is not None and self._wants_capacity:
            self._concurrency_capacity_search()

    # -- capacity at SLO ----------------------------------------------------------------------
    def _concurrency_capacity_search(self) -> None:
        assert self._slo is not None
        for _ in range(_MAX_SEARCH_STEPS):
            steps = sorted(
                (s for s in self._measured.values() if s.concurrency is not None), key=_order
            )
            failing = [s for s in steps if violates(s, self._slo)]
            if not failing:
                failing_c = self._first_failing_probe()
                if failing_c is None:
                    return
            else:
                failing_c = min(s.concurrency for s in failing if s.concurrency is not None)
            passing = [
                s.concurrency
                for s in steps
                if s.concurrency is not None
                and s.concurrency < failing_c
                and not violates(s, self._slo)
            ]
            lo = max(passing) if passing else 0
            if failing_c - lo <= 1:
                return
            mid = max(1, (lo + failing_c) // 2)
            if mid == lo:
                return
            self._step(LoadPoint(concurrency=mid))

    def _first_failing_probe(self) -> int | None:
        failing = [p.concurrency for p in self.probes if p.concurrency and violates(p, self._slo)]
        return min(failing) if failing else None

    def _rate_capacity_search(self) -> None:
        assert self._slo is not None
        for _ in range(_MAX_SEARCH_STEPS):
            steps = sorted((s for s in self._measured.values() if s.request_rate), key=_order)
            failing = [s.request_rate for s in steps if s.request_rate and violates(s, self._slo)]
            if not failing:
                return
            hi = min(failing)
            passing = [
                s.request_rate
                for s in steps
                if s.request_rate and s.request_rate < hi and not violates(s, self._slo)
            ]
            if not passing:
                return
            lo = max(passing)
            if (hi - lo) / lo <= _RATE_PRECISION:
                return
            self._step(LoadPoint(rate=round((lo + hi) / 2, 3)))

    def _capacity(self, steps: list[StepResult]) -> float:
        passing = [s for s in steps if not violates(s, self._slo) and s.stable]
        unstable_passing = [s for s in steps if not violates(s, self._slo) and not s.stable]
        if unstable_passing:
            self.notes.append(
                "capacity ignores unstable step(s) "
                + ", ".join(s.load_point for s in unstable_passing)
            )
        if not passing:
            self.notes.append("no stable step met the SLO latency bounds: capacity is 0")
            return 0.0
        if not any(violates(s, self._slo) for s in steps) and not self._first_failing_probe():
            self.notes.append(
                "the SLO latency bounds held at every measured step: capacity is a lower bound"
            )
        return max(s.throughput for s in passing)


class _Unanswered(Exception):
    """A step's requests went unanswered: the ramp ends there."""


def _order(step: StepResult) -> tuple[int, float]:
    if step.concurrency is not None:
        return (0, float(step.concurrency))
    return (1, float(step.request_rate or 0.0))
