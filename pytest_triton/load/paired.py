"""Paired steps: the baseline build's copy of a model and the current one, measured in turn.

Why: a comparison with a baseline recorded in another session carries everything that differs
between sessions, and on a shared runner that is more than the changes a gate must catch (on
the 2-core benchmark VM one model's p50 moved 3-6 % from one fresh session to the next). Two
copies of the same model on one server, measured in alternation seconds apart, share the
machine's weather: in 8 sessions of identical copies their ratio moved 1-3 % (SD), see
docs/baselines.md "Paired with the baseline build".

Each step the ramp asks for becomes eight short blocks in the order B C B C C B C B (B: the
baseline build, C: the current one), or that order repeated (`block_pairs`, 4 per round).
Consecutive blocks form four pairs, each one baseline and one current block measured seconds
apart, and the order weighs a drift linear in time alike on both sides (positions 1+3+6+8 =
2+4+5+7). The verdict bounds a change with the spread of the
pairs' ratios (pytest_triton.judge.change.paired_change), not with the spread of windows: windows of
one block share its state, and some load points have states that last a block. Dynamic
batching at concurrency 8 on 2 cores held anywhere from 3500 to 7500 infer/s for a whole
block and something else in the next block of the same copy, while the windows of a block
agreed within 5-10 %: windows taken as independent samples made that noise look like a
regression (docs/validation.md).

A block is warm-up plus a fixed number of windows, max(2, ceil(measured_windows / 4)), without
waiting for stability: each side gets at least the step's windows, and the pairs' spread, not a
block's stability, says how far a figure can be trusted. The current blocks pooled are the step
the ramp, the SLO and the reports see (stable when the windows of each of its blocks agreed);
the baseline blocks pooled are its reference. Probes (the single-window looks of an
`auto` ramp) are not paired: they are never judged. The perf_analyzer driver ignores the fixed
block length and waits for its own stability.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from pytest_triton.load.stats import client_overhead_us, merge_splits
from pytest_triton.observe.metrics import summarise
from pytest_triton.result import BlockPair, StepResult

from .driver import Driver
from .step import LoadPoint, StepSettings

ORDER = "BCBCCBCB"  # B: baseline build, C: current build; consecutive blocks pair up
PAIRS_PER_ORDER = len(ORDER) // 2
MIN_BLOCK_WINDOWS = 2


def block_windows(measured_windows: int) -> int:
    """Windows per block: each side's four blocks hold at least the step's windows."""
    return max(MIN_BLOCK_WINDOWS, math.ceil(measured_windows * 2 / len(ORDER)))


class PairedRunner:
    """A step runner (engine.StepRunner) over two drivers; keeps the baseline's steps and each
    load point's block pairs."""

    def __init__(self, current: Driver, baseline: Driver) -> None:
        self._drivers = {"C": current, "B": baseline}
        self.baseline_steps: list[StepResult] = []
        self.pairs: dict[str, tuple[BlockPair, ...]] = {}

    def run_step(self, point: LoadPoint, settings: StepSettings) -> StepResult:
        if settings.probe:
            return self._drivers["C"].run_step(point, settings)
        block = replace(
            settings,
            measured_windows=block_windows(settings.measured_windows),
            until_stable=False,
        )
        order = ORDER * (settings.block_pairs // PAIRS_PER_ORDER)
        blocks = [(side, self._drivers[side].run_step(point, block)) for side in order]
        pairs = []
        for (side_a, a), (_, b) in zip(blocks[::2], blocks[1::2], strict=True):
            pairs.append(BlockPair(a, b) if side_a == "B" else BlockPair(b, a))
        self.pairs[point.label] = tuple(pairs)
        self.baseline_steps.append(pool([p.baseline for p in pairs]))
        return pool([s for side, s in blocks if side == "C"])


def pool(steps: Sequence[StepResult]) -> StepResult:
    """One step from blocks measured at the same load point (in time order): their measured
    windows, and aggregates weighted by what each block served. Stable when every block was:
    blocks that each held still but differ from one another are a load point with several
    states, which the pairs weigh. (Judged as one run, the pooled windows called some step of
    the example suite unstable in each of 30 paired sessions, dynamic_batch c8 in 26.)

    Percentiles are the request-weighted mean of the blocks' percentiles (the blocks' raw
    latencies are not kept); the gate bounds changes with the pairs, not with these.
    """
    first = steps[0]
    windows = tuple(w for s in steps for w in s.measured)
    requests = sum(s.requests for s in steps)
    seconds = [sum(w.duration_s for w in s.measured) for s in steps]
    duration = sum(seconds)

    def weighted(attr: str) -> float:
        if requests == 0:
            return math.nan
        return float(sum(getattr(s, attr) * s.requests for s in steps)) / requests

    split = merge_splits([s.server for s in steps])
    avg_ms = weighted("avg_ms")
    bound_votes = sum(1 for s in steps if s.client_bound)
    return StepResult(
        concurrency=first.concurrency,
        request_rate=first.request_rate,
        windows=windows,
        stable=all(s.stable for s in steps),
        throughput=(
            sum(s.throughput * t for s, t in zip(steps, seconds, strict=True)) / duration
            if duration > 0
            else 0.0
        ),
        avg_ms=avg_ms,
        p50_ms=weighted("p50_ms"),
        p90_ms=weighted("p90_ms"),
        p95_ms=weighted("p95_ms"),
        p99_ms=weighted("p99_ms"),
        requests=requests,
        errors=sum(s.errors for s in steps),
        server=split,
        client_overhead_us=client_overhead_us(avg_ms, split),
        client_bound=bound_votes * 2 > len(steps),
        metrics=summarise([s.metrics for s in steps]),
        measured_windows=len(windows),
        timeouts=sum(s.timeouts for s in steps),
        errors_outside=sum(s.errors_outside for s in steps),
        error_samples=tuple(dict.fromkeys(e for s in steps for e in s.error_samples))[:3],
    )
