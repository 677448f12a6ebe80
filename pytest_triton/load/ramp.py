"""The ramp: which load points to measure, in what order, and when to stop.

Driver-agnostic: it gets a step runner (the native driver's, perf_analyzer's or the paired
runner's), so its rules are unit tested with a fake one. What the modes do is described in
engine.py; this module is the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pytest_triton.result import StepResult
from pytest_triton.spec import SLO, LoadSpec

from .points import doubling
from .stats import plateaued
from .step import LoadPoint, StepSettings, violates

StepRunner = Callable[[LoadPoint, StepSettings], StepResult]
Progress = Callable[[StepResult], None]
# Binary search for capacity stops when the rate interval is this narrow (relative).
_RATE_PRECISION = 0.05
_MAX_SEARCH_STEPS = 6
# A stable step under this share of its own probe's throughput read a slow stretch of the
# machine, not the server: the example models' probes read at most about 10 % above their
# stable steps in benchmarks/search_vs_model_analyzer.py's runs.
FAR_BELOW_PROBE = 0.7


class Ramp:
    """Which load points to measure, in what order, and when to stop. Driver-agnostic: it gets
    a step runner, so the rules are unit tested with a fake one."""

    def __init__(
        self,
        run: StepRunner,
        load: LoadSpec,
        slo: SLO | None,
        progress: Progress | None = None,
        probes_only: bool = False,
        known_probes: Sequence[StepResult] = (),
    ) -> None:
        self._run = run
        # An `auto` ramp that stops after its probes: a quick look at a config (a search's
        # screening, search/strategy.py), whose steps are the probes.
        self._probes_only = probes_only
        # Probes already taken of this config (a search's look at it): the ramp starts from
        # them instead of probing again, and decides as it would have on them.
        self._known_probes = {p.concurrency: p for p in known_probes}
        if (probes_only or known_probes) and (not load.auto or load.request_rate):
            raise ValueError("probes_only and known_probes need an auto concurrency ramp")
        self._load = load
        self._slo = slo if slo is not None and not slo.is_empty() else None
        self._progress = progress
        self._settings = StepSettings.from_load(load, slo)
        self.probes: list[StepResult] = []
        self.notes: list[str] = []
        # the SLO held at every step, so the capacity found is only where the ramp stopped
        self.capacity_lower_bound = False
        self._measured: dict[LoadPoint, StepResult] = {}

    def _step(self, point: LoadPoint, probe: bool = False) -> StepResult:
        if not probe and point in self._measured:
            return self._measured[point]
        settings = self._settings.as_probe() if probe else self._settings
        step = self._run(point, settings)
        own_probe = None if probe else self._probe_at(point)
        if own_probe is not None and not step.timeouts and self._far_below(step, own_probe):
            # One slow stretch of a shared machine would otherwise decide the capacity (a
            # false -54 % capacity regression was seen): the second reading stands.
            first = step
            step = self._run(point, settings)
            past = ", past an SLO bound its probe met" if violates(first, self._slo) else ""
            self.notes.append(
                f"step {point.label} read far below its probe ({first.throughput:.0f} vs "
                f"{own_probe.throughput:.0f} infer/s{past}): measured again, "
                f"{step.throughput:.0f} infer/s"
            )
        if step.timeouts:
            # The model stopped answering: every further step would wait out its timeout too.
            # Kept as measured even when a probe, so the verdict sees it (judge/served.py).
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

    def _known_probe(self, concurrency: int) -> StepResult | None:
        known = self._known_probes.get(concurrency)
        if known is not None:
            self.probes.append(known)
        return known

    def _probe_at(self, point: LoadPoint) -> StepResult | None:
        return next((p for p in self.probes if p.load_point == point.label), None)

    def _far_below(self, step: StepResult, probe: StepResult) -> bool:
        """A stable step far below its probe: under FAR_BELOW_PROBE of its throughput, or past
        an SLO bound the probe met."""
        if violates(step, self._slo) and not violates(probe, self._slo):
            return True
        return step.throughput < FAR_BELOW_PROBE * probe.throughput

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
        if self._probes_only:
            return list(self.probes), None, self.notes
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
            step = self._known_probe(c) or self._step(LoadPoint(concurrency=c), probe=True)
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
        if self._probes_only:
            return
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
            self.capacity_lower_bound = True
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
