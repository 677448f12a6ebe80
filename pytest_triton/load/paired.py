"""Paired steps: the baseline build's copy of a model and the current one, measured in turn.

Why: a comparison with a baseline recorded in another session carries everything that differs
between sessions, and on a shared runner that is more than the changes a gate must catch (on
the 2-core benchmark VM one model's p50 moved 3-6 % from one fresh session to the next). Two
copies of the same model on one server, measured in alternation seconds apart, share the
machine's weather: in 8 sessions of identical copies their ratio moved 1-3 % (SD), see
docs/baselines.md "Paired with the baseline build".

Each step the ramp asks for becomes four blocks in the order baseline, current, current,
baseline (a drift linear in time weighs both sides alike), each of half the step's measured
windows (at least the 3 that stability is judged on). The current blocks pooled are the step the
ramp, the SLO and the reports see; the baseline blocks pooled are its reference. Probes (the
single-window looks of an `auto` ramp) are not paired: they are never judged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from pytest_triton.metrics import summarise
from pytest_triton.result import StepResult
from pytest_triton.stats import client_overhead_us, merge_splits

from .driver import Driver
from .step import STABLE_WINDOWS, LoadPoint, StepSettings

ORDER = "BCCB"  # B: baseline build, C: current build


class PairedRunner:
    """A step runner (engine.StepRunner) over two drivers; keeps the baseline's steps."""

    def __init__(self, current: Driver, baseline: Driver) -> None:
        self._drivers = {"C": current, "B": baseline}
        self.baseline_steps: list[StepResult] = []

    def run_step(self, point: LoadPoint, settings: StepSettings) -> StepResult:
        if settings.probe:
            return self._drivers["C"].run_step(point, settings)
        half = max(STABLE_WINDOWS, math.ceil(settings.measured_windows / 2))
        block = replace(settings, measured_windows=half)
        blocks: dict[str, list[StepResult]] = {"B": [], "C": []}
        for side in ORDER:
            blocks[side].append(self._drivers[side].run_step(point, block))
        self.baseline_steps.append(pool(blocks["B"]))
        return pool(blocks["C"])


def pool(steps: Sequence[StepResult]) -> StepResult:
    """One step from blocks measured at the same load point: their measured windows, and
    aggregates weighted by what each block served.

    Percentiles are the request-weighted mean of the blocks' percentiles (the blocks' raw
    latencies are not kept); the gate bounds changes with the windows, not with these.
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
    )
