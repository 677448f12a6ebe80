"""One metric at one load point: its change, bounded by a confidence interval, against its
tolerance.

A metric regresses only when the whole confidence interval of its change lies beyond the
tolerance in the worse direction; it improved when the whole interval lies beyond it in the
better direction. An interval that straddles the tolerance is "inconclusive": reported, never
failing, because a gate that fails on maybe is a gate people learn to ignore.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from pytest_triton.judge import sizing
from pytest_triton.judge.change import Change, paired_change, relative_change
from pytest_triton.judge.tolerance import METRICS, Direction, MetricDef, Tolerances
from pytest_triton.result import BlockPair, Measurement, StepResult, metric_value

# How a row's reason starts when guard.py stopped trusting it: a regression on a busier machine,
# an improvement on a quieter one.
BUSIER = "machine busier"
QUIETER = "machine quieter"


class Outcome(Enum):
    OK = "ok"
    REGRESSION = "REGRESSION"
    IMPROVED = "improved"
    INCONCLUSIVE = "inconclusive"
    NOT_GATED = "not gated"


@dataclass(frozen=True)
class Row:
    """One metric at one load point (step '' for measurement-wide metrics such as capacity)."""

    step: str
    metric: str
    baseline: float
    current: float
    change: Change | None
    tolerance: float
    outcome: Outcome
    reason: str = ""  # why not gated / why inconclusive
    pair_ratios: tuple[float, ...] = ()  # paired: each block pair's current / baseline value
    advice: str = ""  # when it cannot see its tolerance (blind): what would let it

    @property
    def definition(self) -> MetricDef:
        return METRICS[self.metric]

    @property
    def name(self) -> str:
        return f"{self.step} {self.metric}".strip()

    @property
    def machine_busier(self) -> bool:
        """A regression downgraded because neighbours took the CPUs (guard.py): not trusted."""
        return self.reason.startswith(BUSIER)

    @property
    def machine_quieter(self) -> bool:
        """An improvement downgraded because neighbours left the CPUs (guard.py)."""
        return self.reason.startswith(QUIETER)

    @property
    def resolution(self) -> float | None:
        """The smallest worsening this comparison could have called a regression, as a fraction
        (0.12: latency +12 %, or throughput -12 %); None without an interval."""
        if self.change is None:
            return None
        return resolution(self.change, self.definition.direction, self.tolerance)

    @property
    def blind(self) -> bool:
        """The comparison cannot see this row's tolerance: a change of twice the tolerance
        could still read ok or inconclusive."""
        seen = self.resolution
        return seen is not None and seen > sizing.SEES * self.tolerance


def badness(change: Change, direction: Direction) -> tuple[float, float]:
    """The interval as "how much worse" fractions (positive = worse), low to high."""
    if direction is Direction.LOWER_IS_BETTER:
        return change.low - 1.0, change.high - 1.0
    return 1.0 - change.high, 1.0 - change.low


def resolution(change: Change, direction: Direction, tolerance: float) -> float:
    """The smallest change in the worse direction that `judge` calls a regression with this
    interval's width (on the log scale, where the interval is symmetric)."""
    return sizing.resolution_at(direction, tolerance, math.log(change.high / change.low) / 2.0)


def judge(change: Change, direction: Direction, tolerance: float) -> Outcome:
    """Regression / improvement only when the whole interval is beyond the tolerance."""
    worse_low, worse_high = badness(change, direction)
    if worse_low > tolerance:
        return Outcome.REGRESSION
    if worse_high < -tolerance:
        return Outcome.IMPROVED
    if worse_high > tolerance:
        return Outcome.INCONCLUSIVE
    return Outcome.OK


def _tail_shortfall(metric: MetricDef, step: StepResult, min_tail: int) -> int | None:
    """Requests a window needs for this percentile to be bounded, when some window has fewer."""
    if metric.quantile is None or metric.quantile <= 0.5:
        return None
    need = int(round(min_tail / (1.0 - metric.quantile)))
    if any(w.requests < need for w in step.measured):
        return need
    return None


def _earlier_values(sessions: Sequence[Mapping[str, Any]], point: str, metric: str) -> list[float]:
    """The earlier sessions' values of one metric at one load point ('' for capacity), from
    their summaries (pytest_triton.baseline.history); a session that did not measure it is
    left out."""
    values = []
    for session in sessions:
        if point == "":
            value = session.get("capacity")
        else:
            value = ((session.get("steps") or {}).get(point) or {}).get(metric)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            values.append(float(value))
    return values


def metric_row(
    step_name: str,
    metric: MetricDef,
    tolerance: float,
    base_value: float,
    cur_value: float,
    base_samples: Sequence[float],
    cur_samples: Sequence[float],
    tolerances: Tolerances,
    shortfall: str = "",
    earlier: Sequence[Mapping[str, Any]] = (),
    pair_ratios: Sequence[float] | None = None,
    window_s: float | None = None,  # the current side's window length, for the advice
) -> Row:
    change: Change | None
    if shortfall:
        change = None
    elif pair_ratios is not None:
        change = paired_change(
            base_value, cur_value, pair_ratios, tolerances.confidence, tolerances.run_noise
        )
    else:
        change = relative_change(
            base_value,
            cur_value,
            base_samples,
            cur_samples,
            tolerances.confidence,
            tolerances.run_noise,
            _earlier_values(earlier, step_name, metric.name),
        )
    if change is None:
        reason = shortfall or _unbounded(
            base_value, cur_value, base_samples, cur_samples, pair_ratios
        )
        return Row(
            step_name,
            metric.name,
            base_value,
            cur_value,
            None,
            tolerance,
            Outcome.NOT_GATED,
            reason,
        )
    outcome = judge(change, metric.direction, tolerance)
    reason = ""
    if outcome is Outcome.INCONCLUSIVE:
        reason = "interval spans the tolerance"
    if change.sessions > 1:  # the baseline's value is the sessions' (geometric) mean
        base_value = cur_value / change.ratio
    row = Row(
        step_name,
        metric.name,
        base_value,
        cur_value,
        change,
        tolerance,
        outcome,
        reason,
        tuple(pair_ratios or ()),
    )
    if not row.blind:
        return row
    what_would = sizing.advice(
        metric.direction,
        tolerance,
        base_samples,
        cur_samples,
        tolerances.run_noise,
        tolerances.confidence,
        pair_ratios,
        window_s,
    )
    return replace(row, advice=what_would)


def _unbounded(
    base_value: float,
    cur_value: float,
    base_samples: Sequence[float],
    cur_samples: Sequence[float],
    pair_ratios: Sequence[float] | None,
) -> str:
    """Why a change has no interval."""
    if base_value <= 0 or cur_value <= 0:
        return "no ratio of a zero value"
    if pair_ratios is not None:
        valued = sum(1 for r in pair_ratios if math.isfinite(r) and r > 0)
        if valued < len(pair_ratios):
            return f"{len(pair_ratios) - valued} of {len(pair_ratios)} block pairs have no value"
        return f"needs >= 2 block pairs to bound, had {len(pair_ratios)}"
    return (
        f"needs >= 2 windows on each side to bound (baseline {len(base_samples)}, current "
        f"{len(cur_samples)})"
    )


def block_pair_ratios(pairs: Sequence[BlockPair], metric: str) -> list[float]:
    """Each pair's current / baseline value of a metric (NaN where the baseline's is not
    positive: paired_change then refuses to bound it)."""
    ratios = []
    for pair in pairs:
        old = metric_value(pair.baseline, metric)
        ratios.append(metric_value(pair.current, metric) / old if old > 0 else math.nan)
    return ratios


def step_rows(
    base: StepResult,
    cur: StepResult,
    tolerances: Tolerances,
    warnings: list[str],
    earlier: Sequence[Mapping[str, Any]],
    pairs: Sequence[BlockPair] | None = None,
    noise: Mapping[str, float] | None = None,
) -> list[Row]:
    """The step's gated metrics. `noise` (row name -> relative SD) replaces the tolerances'
    run noise for the rows a calibration measured (baseline/calibration.py)."""
    # Samples are the step's measured windows (the stable ones its aggregate is computed over),
    # not the road to stability before them: a warm-up trend is not run-to-run noise.
    rows: list[Row] = []
    durations = [w.duration_s for w in cur.measured]
    window_s = math.fsum(durations) / len(durations) if durations else None
    for name, tolerance in tolerances.gated().items():
        metric = METRICS[name]
        measured = (noise or {}).get(f"{base.load_point} {name}")
        row_tolerances = tolerances if measured is None else replace(tolerances, run_noise=measured)
        if not metric.per_step or (metric.stream and (base.stream is None or cur.stream is None)):
            continue
        base_value, cur_value = metric_value(base, name), metric_value(cur, name)
        base_samples = [metric_value(w, name) for w in base.measured]
        cur_samples = [metric_value(w, name) for w in cur.measured]
        shortfall = ""
        needs = [
            n
            for s in (base, cur)
            if (n := _tail_shortfall(metric, s, tolerances.min_tail_samples)) is not None
        ]
        if needs:
            fewest = min(w.requests for s in (base, cur) for w in s.measured)
            shortfall = f"needs >= {needs[0]} requests/window, had {fewest}"
            warnings.append(
                f"{base.load_point} {name} not gated: too few samples to bound it "
                f"({fewest} requests in the smallest window, {needs[0]} needed for "
                f"{tolerances.min_tail_samples} beyond {name}); lengthen the windows "
                "(window_s / window_requests) to gate it"
            )
        rows.append(
            metric_row(
                base.load_point,
                metric,
                tolerance,
                base_value,
                cur_value,
                base_samples,
                cur_samples,
                row_tolerances,
                shortfall,
                earlier,
                None if pairs is None else block_pair_ratios(pairs, name),
                window_s,
            )
        )
    return rows


def capacity_samples(measurement: Measurement) -> list[float]:
    """Capacity is one number; its spread is that of the step it was reached at (scaled when
    the engine interpolated between steps)."""
    capacity = measurement.capacity
    if capacity is None or not measurement.steps:
        return []
    judged = [s for s in measurement.steps if not s.probe] or list(measurement.steps)
    step = min(judged, key=lambda s: abs(s.throughput - capacity))
    if step.throughput <= 0:
        return []
    scale = capacity / step.throughput
    return [w.throughput * scale for w in step.measured]
