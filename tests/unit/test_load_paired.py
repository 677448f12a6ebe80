"""Paired steps: baseline and current build in turn, each side's blocks pooled into one step."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_triton.load.paired import PairedRunner, block_windows, pool
from pytest_triton.load.ramp import Ramp
from pytest_triton.load.step import LoadPoint, StepSettings
from pytest_triton.result import ServerSplit, StepResult, WindowSample
from pytest_triton.spec import LoadSpec


def _window(latency_ms: float, throughput: float, seconds: float = 1.0) -> WindowSample:
    requests = int(throughput * seconds)
    split = ServerSplit(queue_us=100.0, compute_infer_us=latency_ms * 900, requests=requests)
    return WindowSample(
        seconds, requests, 0, throughput, latency_ms, latency_ms, latency_ms, latency_ms,
        latency_ms, split,
    )  # fmt: skip


def _step(point: LoadPoint, latency_ms: float, windows: int, warmup: int = 0) -> StepResult:
    throughput = (point.concurrency or 1) * 1000.0 / latency_ms
    road = [_window(latency_ms * 3, throughput / 3)] * warmup  # before stability: not pooled
    measured = [_window(latency_ms, throughput)] * windows
    requests = sum(w.requests for w in measured)
    return StepResult(
        point.concurrency, None, tuple(road + measured), True, throughput, latency_ms,
        latency_ms, latency_ms, latency_ms, latency_ms, requests, 0,
        ServerSplit(queue_us=100.0, compute_infer_us=latency_ms * 900, requests=requests),
        measured_windows=windows,
    )  # fmt: skip


class FakeDriver:
    """A build whose every request takes `latency_ms`; logs what it was asked to run."""

    name = "fake"

    def __init__(self, label: str, latency_ms: float, log: list[tuple[str, str, int, bool]]):
        self.label, self.latency_ms, self.log = label, latency_ms, log
        self.notes: list[str] = []
        self.until_stable: list[bool] = []

    def run_step(self, point: LoadPoint, settings: StepSettings) -> StepResult:
        self.log.append((self.label, point.label, settings.measured_windows, settings.probe))
        self.until_stable.append(settings.until_stable)
        windows = 1 if settings.probe else settings.measured_windows
        return _step(point, self.latency_ms, windows, warmup=0 if settings.probe else 2)

    def close(self) -> None:
        pass


def test_each_step_alternates_the_builds_in_pairs_and_pools_each_side() -> None:
    log: list[tuple[str, str, int, bool]] = []
    current, baseline = FakeDriver("C", 5.0, log), FakeDriver("B", 4.0, log)
    runner = PairedRunner(current, baseline)
    steps, _, _ = Ramp(
        runner.run_step, LoadSpec(concurrency=(1, 4), measured_windows=5), None
    ).run()
    # B C B C C B C B at every load point: consecutive blocks pair up, and a drift linear in
    # time weighs both sides alike (positions 1+3+6+8 = 2+4+5+7)
    order = [(b, "c1") for b in "BCBCCBCB"] + [(b, "c4") for b in "BCBCCBCB"]
    assert [(b, p) for b, p, _, _ in log] == order
    # blocks of ceil(5 / 4) = 2 windows, measured as they come: the pairs judge the spread
    assert {n for _, _, n, _ in log} == {2}
    assert current.until_stable == baseline.until_stable == [False] * 8
    # the ramp (and the SLO, the reports) see the current build; the baseline's are kept
    assert [s.p50_ms for s in steps] == [5.0, 5.0]
    assert [(s.load_point, s.p50_ms) for s in runner.baseline_steps] == [("c1", 4.0), ("c4", 4.0)]
    # only the blocks' measured windows are pooled, not their road to stability
    assert all(len(s.windows) == s.measured_windows == 8 for s in steps)
    # four (baseline, current) pairs per load point, each of one block of either build
    assert sorted(runner.pairs) == ["c1", "c4"]
    for pairs in runner.pairs.values():
        assert [(p.baseline.p50_ms, p.current.p50_ms) for p in pairs] == [(4.0, 5.0)] * 4


def test_more_block_pairs_repeat_the_order_in_whole_rounds() -> None:
    log: list[tuple[str, str, int, bool]] = []
    runner = PairedRunner(FakeDriver("C", 5.0, log), FakeDriver("B", 4.0, log))
    runner.run_step(LoadPoint(2), StepSettings.from_load(LoadSpec(block_pairs=8), None))
    assert "".join(b for b, _, _, _ in log) == "BCBCCBCB" * 2
    assert len(runner.pairs["c2"]) == 8


def test_blocks_hold_at_least_two_windows_and_each_side_the_steps_windows() -> None:
    assert [block_windows(m) for m in (1, 3, 5, 8, 9, 12)] == [2, 2, 2, 2, 3, 3]


def test_probes_are_not_paired() -> None:
    log: list[tuple[str, str, int, bool]] = []
    runner = PairedRunner(FakeDriver("C", 5.0, log), FakeDriver("B", 4.0, log))
    runner.run_step(LoadPoint(2), StepSettings.from_load(LoadSpec(), None).as_probe())
    assert [(b, probe) for b, _, _, probe in log] == [("C", True)]
    assert runner.baseline_steps == []
    assert runner.pairs == {}


def test_pool_weighs_blocks_by_what_they_served() -> None:
    point = LoadPoint(1)
    fast, slow = _step(point, 2.0, 3), _step(point, 2.1, 3)  # 500/s and 476/s
    pooled = pool([fast, slow])
    assert pooled.requests == fast.requests + slow.requests == 1500 + 1428
    assert pooled.throughput == pytest.approx((500.0 + 1000.0 / 2.1) / 2)  # over equal time
    # a request-weighted latency
    assert pooled.p50_ms == pytest.approx((2.0 * 1500 + 2.1 * 1428) / 2928)
    assert pooled.server.requests == pooled.requests
    assert pooled.stable and pooled.load_point == "c1"


def test_a_pooled_step_is_stable_only_when_every_block_was() -> None:
    point = LoadPoint(1)
    steady, wobbly = _step(point, 2.0, 2), replace(_step(point, 4.0, 2), stable=False)
    assert pool([steady, steady]).stable
    assert not pool([steady, wobbly]).stable
    # blocks that each held still but differ from one another are stable: how far two
    # states of a load point differ is for the pairs to weigh, not a reason to warn
    assert pool([_step(point, 2.0, 2), _step(point, 4.0, 2)]).stable
