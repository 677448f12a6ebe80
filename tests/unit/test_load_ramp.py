"""Ramp rules (list, auto, capacity at SLO) with a fake step runner: the server is a formula."""

from __future__ import annotations

import math

import pytest

from pytest_triton.load.ramp import Ramp
from pytest_triton.load.step import LoadPoint, StepSettings
from pytest_triton.result import StepResult, WindowSample
from pytest_triton.spec import SLO, LoadSpec


class FakeServer:
    """Throughput saturates at `capacity` infer/s; latency follows Little's law."""

    def __init__(self, capacity: float = 400.0, per_request_ms: float = 10.0, unstable=()):
        self.capacity = capacity
        self.per_request_ms = per_request_ms
        self.unstable = set(unstable)
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, point: LoadPoint, settings: StepSettings) -> StepResult:
        self.calls.append((point.label, settings.probe))
        if point.concurrency is not None:
            c = point.concurrency
            throughput = min(c * 1000.0 / self.per_request_ms, self.capacity)
            latency = c / throughput * 1000.0  # Little's law, ms
        else:
            assert point.rate is not None
            throughput = min(point.rate, self.capacity)
            load = point.rate / self.capacity
            latency = self.per_request_ms / max(1e-3, 1 - load) if load < 1 else 1e4
        w = WindowSample(1.0, int(throughput), 0, throughput, latency, latency, latency,
                         latency, latency * 1.5)  # fmt: skip
        stable = point.label not in self.unstable
        return StepResult(
            point.concurrency, point.rate, (w,) * 3, stable, throughput, latency, latency,
            latency, latency, latency * 1.5, int(throughput) * 3, 0, probe=settings.probe,
        )  # fmt: skip


def ramp(load: LoadSpec, slo: SLO | None = None, server: FakeServer | None = None, seen=None):
    server = server or FakeServer()
    progress = seen.append if seen is not None else None
    return Ramp(server, load, slo, progress), server


def test_a_list_is_measured_in_order_and_reported_sorted():
    seen: list[StepResult] = []
    r, server = ramp(LoadSpec(concurrency=(8, 1, 4)), seen=seen)
    steps, capacity, notes = r.run()
    assert [c for c, _ in server.calls] == ["c8", "c1", "c4"]
    assert [s.load_point for s in steps] == ["c1", "c4", "c8"]
    assert [s.load_point for s in seen] == ["c8", "c1", "c4"]  # progress: live, in run order
    assert capacity is None and notes == []


def test_auto_probes_until_plateau_then_measures_the_knee():
    # capacity 400 infer/s is reached at c4 (100/s per outstanding request)
    r, server = ramp(LoadSpec(concurrency=(), auto=True, max_concurrency=128))
    steps, _, notes = r.run()
    probes = [label for label, probe in server.calls if probe]
    assert probes == ["c1", "c2", "c4", "c8", "c16", "c32"]  # 4,8,16,32 gain 0% -> stop
    # the knee, then one doubling up to confirm it gains no more: a stable climb from the knee
    assert [s.load_point for s in steps] == ["c4", "c8"]
    assert [label for label, probe in server.calls if not probe] == ["c4", "c8"]
    assert all(not s.probe for s in steps) and all(p.probe for p in r.probes)
    assert any("throughput gained under 5%" in n for n in notes)


def test_auto_stops_at_an_slo_breach():
    # 10 ms until saturation at c4, then Little's law: c8 -> 20 ms, p99 (1.5x) 30 ms > 25 ms
    slo = SLO(p99_ms=25.0)
    r, server = ramp(LoadSpec(concurrency=(), auto=True), slo)
    steps, capacity, notes = r.run()
    assert [label for label, probe in server.calls if probe] == ["c1", "c2", "c4", "c8"]
    # the knee; no climb into c8, whose probe broke the SLO
    assert [s.load_point for s in steps] == ["c4"]
    assert capacity is None  # not asked for
    assert any("SLO latency bound" in n for n in notes)


def test_a_look_is_the_auto_ramps_probes_alone():
    # a config search's look (search/strategy.py): the probes up to the plateau or an SLO
    # breach, the breaching probe included, and no stable step
    slo = SLO(p99_ms=25.0)
    server = FakeServer()
    r = Ramp(server, LoadSpec(concurrency=(), auto=True, find_capacity=True), slo, None, True)
    steps, capacity, _ = r.run()
    assert server.calls == [("c1", True), ("c2", True), ("c4", True), ("c8", True)]
    assert [s.load_point for s in steps] == ["c1", "c2", "c4", "c8"] and capacity is None
    with pytest.raises(ValueError, match="auto concurrency ramp"):
        Ramp(server, LoadSpec(concurrency=(1, 2)), None, None, True)


def test_a_ramp_from_a_looks_probes_probes_nothing_again_and_decides_alike():
    # a search's finalist (search/strategy.py): measured after its look, from the look's probes
    slo = SLO(p99_ms=25.0)
    load = LoadSpec(concurrency=(), auto=True)
    look, _, _ = Ramp(FakeServer(), load, slo, None, True).run()
    fresh, fresh_server = ramp(load, slo)
    fresh_steps, _, _ = fresh.run()
    server = FakeServer()
    r = Ramp(server, load, slo, None, False, look)
    steps, _, notes = r.run()
    assert all(not probe for _, probe in server.calls)  # no probe taken again
    assert server.calls == [c for c in fresh_server.calls if not c[1]]  # the same stable steps
    assert steps == fresh_steps and r.probes == look  # reported as this ramp's probes
    assert any("SLO latency bound" in n for n in notes)
    with pytest.raises(ValueError, match="auto concurrency ramp"):
        Ramp(server, LoadSpec(concurrency=(1, 2)), None, None, False, look)


class SlowOnce(FakeServer):
    """A stretch of a busy machine: the first stable step at `point` reads `factor` slow."""

    def __init__(self, point: str, factor: float, **kw):
        super().__init__(**kw)
        self.point, self.factor = point, factor

    def __call__(self, point: LoadPoint, settings: StepSettings) -> StepResult:
        step = super().__call__(point, settings)
        stable_calls = [c for c in self.calls if c == (self.point, False)]
        if point.label == self.point and not settings.probe and len(stable_calls) == 1:
            lat = step.p50_ms / self.factor
            return StepResult(
                step.concurrency, None, step.windows, True, step.throughput * self.factor,
                lat, lat, lat, lat, lat * 1.5, step.requests, 0,
            )  # fmt: skip
        return step


def test_a_stable_step_far_below_its_probe_is_measured_again():
    # capacity at p99 <= 25 ms: 400/s at c4; the first stable c4 reads at half speed
    server = SlowOnce("c4", 0.5)
    r, _ = ramp(LoadSpec(concurrency=(), auto=True, find_capacity=True), SLO(p99_ms=25.0), server)
    steps, capacity, notes = r.run()
    assert [c for c in server.calls if c == ("c4", False)] == [("c4", False)] * 2
    assert capacity == 400.0
    assert any("step c4 read far below its probe (200 vs 400 infer/s" in n for n in notes), notes
    # a step a little below its probe is what probes do: measured once
    steady = SlowOnce("c4", 0.9)
    r, _ = ramp(LoadSpec(concurrency=(), auto=True), None, steady)
    r.run()
    assert [c for c in steady.calls if c == ("c4", False)] == [("c4", False)]


def test_auto_climbs_past_a_lucky_probe():
    """A probe that happened to be fast at c1 fakes a plateau; stable steps climb past it."""

    class Lucky(FakeServer):
        def __call__(self, point, settings):
            step = super().__call__(point, settings)
            if settings.probe and point.concurrency == 1:
                from dataclasses import replace

                return replace(step, throughput=400.0)  # as fast as saturation, by luck
            return step

    server = Lucky(capacity=400.0)  # 100/s per outstanding request up to c4
    r, _ = ramp(LoadSpec(concurrency=(), auto=True), None, server)
    steps, _, _ = r.run()
    assert [label for label, probe in server.calls if probe] == ["c1", "c2", "c4", "c8"]
    # knee = c1 (the lucky probe); stable c2 (200/s) gains, c4 (400) gains, c8 does not
    assert [s.load_point for s in steps] == ["c1", "c2", "c4", "c8"]
    assert max(s.throughput for s in steps) == 400.0


def test_auto_stops_at_max_concurrency():
    server = FakeServer(capacity=1e9)
    r, _ = ramp(LoadSpec(concurrency=(), auto=True, max_concurrency=8), server=server)
    r.run()
    assert [label for label, probe in server.calls if probe] == ["c1", "c2", "c4", "c8"]


def test_capacity_binary_search_between_last_pass_and_first_fail():
    # capacity 1000/s reached at c10; p99 = 15 ms * c / 10 past c10; bound 30 ms -> c20 is the edge
    server = FakeServer(capacity=1000.0, per_request_ms=10.0)
    slo = SLO(p99_ms=30.0, min_capacity=500.0)
    r, _ = ramp(LoadSpec(concurrency=(1, 64)), slo, server)
    steps, capacity, _ = r.run()
    labels = [s.load_point for s in steps]
    assert labels[0] == "c1" and labels[-1] == "c64"
    # searched between 1 and 64: 32 fails, 16 passes, 24 fails, 20 passes, 22 fails, 21 fails
    assert [c for c, _ in server.calls][2:] == ["c32", "c16", "c24", "c20", "c22", "c21"]
    assert capacity == pytest.approx(1000.0)
    passing = [s for s in steps if s.p99_ms <= 30.0]
    assert max(s.concurrency for s in passing) == 20


def test_capacity_search_in_an_auto_ramp_uses_the_breaching_probe():
    server = FakeServer(capacity=1000.0, per_request_ms=10.0)
    slo = SLO(p99_ms=30.0, min_capacity=1.0)
    r, _ = ramp(LoadSpec(concurrency=(), auto=True), slo, server)
    steps, capacity, _ = r.run()
    assert capacity == pytest.approx(1000.0)
    assert max(s.concurrency for s in steps if s.p99_ms <= 30) == 20


def test_capacity_is_zero_when_nothing_meets_the_slo_and_ignores_unstable_steps():
    server = FakeServer(capacity=1000.0, unstable={"c4"})
    slo = SLO(p99_ms=0.001, min_capacity=1.0)
    r, _ = ramp(LoadSpec(concurrency=(1, 2)), slo, server)
    _, capacity, notes = r.run()
    assert capacity == 0.0 and any("capacity is 0" in n for n in notes)

    slo = SLO(p99_ms=1e6, min_capacity=1.0)
    r, _ = ramp(LoadSpec(concurrency=(2, 4)), slo, server)
    steps, capacity, notes = r.run()
    assert capacity == pytest.approx(200.0)  # c4 (400/s) is unstable: never silently used
    assert any("ignores unstable" in n for n in notes)
    assert any("c4 did not stabilise" in n for n in notes)
    assert any("lower bound" in n for n in notes) and r.capacity_lower_bound


def test_rate_mode_capacity_bisects_rates():
    server = FakeServer(capacity=1000.0, per_request_ms=1.0)
    # latency = 1 ms / (1 - rate/1000); p99 = 1.5x; bound 15 ms -> rate < 900
    slo = SLO(p99_ms=15.0, min_capacity=1.0)
    r, _ = ramp(LoadSpec(concurrency=(), request_rate=(100.0, 990.0)), slo, server)
    steps, capacity, _ = r.run()
    rates = [s.request_rate for s in steps]
    assert rates[0] == 100.0 and rates[-1] == 990.0 and len(rates) > 3
    assert 800.0 <= capacity <= 900.0
    assert all(s.concurrency is None for s in steps)


def test_nan_latency_violates():
    from pytest_triton.load.step import violates

    s = StepResult(1, None, (), False, 0.0, math.nan, math.nan, math.nan, math.nan, math.nan, 0, 0)
    assert violates(s, SLO(p99_ms=1.0))
    assert not violates(s, None)


def test_progress_line():
    from pytest_triton.load.progress import step_line

    s = StepResult(8, None, (), True, 4123.4, 1, 1, 1, 1, 2.105, 10, 0)
    assert step_line(s) == "c8         4123.4 infer/s  p99    2.105 ms  stable"
    bad = StepResult(16, None, (), False, 10.0, 1, 1, 1, 1, math.nan, 10, 3, client_bound=True)
    assert step_line(bad, "tiny") == (
        "tiny c16          10.0 infer/s  p99        - ms  UNSTABLE  client-bound  3 errors"
    )
    probe = StepResult(None, 250.0, (), False, 249.0, 1, 1, 1, 1, 3.0, 10, 0, probe=True)
    assert step_line(probe).startswith("r250") and step_line(probe).endswith("probe")
