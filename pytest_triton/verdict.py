"""(baseline, current, tolerances) -> Verdict: which metrics regressed, improved or held, and why.

A metric regresses only when the whole confidence interval of its change lies beyond the
tolerance in the worse direction; it improved when the whole interval lies beyond it in the
better direction. An interval that straddles the tolerance is "inconclusive": reported, never
failing, because a gate that fails on maybe is a gate people learn to ignore.

Steps are matched by load point (c4 = concurrency 4, r100 = 100 infer/s). The message a failing
test shows is a table plus attribution (did the server queue, compute, or the client side move?)
built from the per-window server split both sides recorded. Paired with the baseline build
(pytest_triton.load.paired), a step's spread comes from its block pairs instead of its windows,
and every row that is not ok lists its pairs' changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from pytest_triton.change import Change, paired_change, relative_change
from pytest_triton.result import BlockPair, Measurement, StepResult, metric_value
from pytest_triton.tolerance import METRICS, Direction, MetricDef, Tolerances

BUSIER = "machine busier"  # how a row's reason starts when _guard stopped trusting it


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

    @property
    def definition(self) -> MetricDef:
        return METRICS[self.metric]

    @property
    def name(self) -> str:
        return f"{self.step} {self.metric}".strip()

    @property
    def machine_busier(self) -> bool:
        """A regression downgraded because neighbours took the CPUs (_guard): not trusted."""
        return self.reason.startswith(BUSIER)


@dataclass(frozen=True)
class MachineLoad:
    """CPUs other processes used while each step was measured (pytest_triton.machine_load)."""

    cpus: int
    foreign: Mapping[str, float] = field(default_factory=dict)  # load point -> CPUs


@dataclass(frozen=True)
class Verdict:
    rows: tuple[Row, ...]
    attribution: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what changed in the subject, steps only on one side
    warnings: tuple[str, ...] = ()  # metrics not gated, inconclusive ones, unstable steps
    confidence: float = 0.95

    def _with(self, outcome: Outcome) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.outcome is outcome)

    @property
    def regressions(self) -> tuple[Row, ...]:
        return self._with(Outcome.REGRESSION)

    @property
    def improvements(self) -> tuple[Row, ...]:
        return self._with(Outcome.IMPROVED)

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    def summary(self) -> str:
        """One line for the session summary."""
        parts: list[str] = []
        if self.regressions:
            parts.append(
                f"{len(self.regressions)} regression(s): "
                + ", ".join(f"{r.name} {_pct(r)}" for r in self.regressions)
            )
        if self.improvements:
            parts.append(
                f"{len(self.improvements)} improvement(s): "
                + ", ".join(f"{r.name} {_pct(r)}" for r in self.improvements)
            )
        inconclusive = self._with(Outcome.INCONCLUSIVE)
        busier = [r for r in inconclusive if r.machine_busier]
        if busier:
            parts.append(
                f"{len(busier)} not trusted (machine busier): "
                + ", ".join(f"{r.name} {_pct(r)}" for r in busier)
            )
        maybe = [r for r in inconclusive if not r.machine_busier]
        if maybe:  # named, so the session summary says which figure to keep an eye on
            parts.append(
                f"{len(maybe)} inconclusive: " + ", ".join(f"{r.name} {_pct(r)}" for r in maybe)
            )
        not_gated = self._with(Outcome.NOT_GATED)
        if not_gated:
            parts.append(f"{len(not_gated)} not gated")
        gated = len(self.rows) - len(not_gated)
        return "; ".join(parts) if parts else f"within tolerance ({gated} metric(s) gated)"

    def table(self) -> str:
        return render_table(self.rows, self.confidence)

    def message(self) -> str:
        """The full text a test shows: table, attribution, what changed, warnings."""
        lines = [self.table()]
        if self.attribution:
            lines.append("")
            lines.extend(f"where: {a}" for a in self.attribution)
        paired = [r for r in self.rows if r.pair_ratios and _moved(r)]
        if paired:
            lines.append("")
            lines.extend(f"pairs: {_pairs_line(r)}" for r in paired)
        if self.notes:
            lines.append("")
            lines.extend(f"changed: {n}" for n in self.notes)
        if self.warnings:
            lines.append("")
            lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Comparison


def badness(change: Change, direction: Direction) -> tuple[float, float]:
    """The interval as "how much worse" fractions (positive = worse), low to high."""
    if direction is Direction.LOWER_IS_BETTER:
        return change.low - 1.0, change.high - 1.0
    return 1.0 - change.high, 1.0 - change.low


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
    their summaries (pytest_triton.baseline.sessions); a session that did not measure it is
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


def _row(
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
) -> Row:
    if shortfall:
        return Row(
            step_name,
            metric.name,
            base_value,
            cur_value,
            None,
            tolerance,
            Outcome.NOT_GATED,
            shortfall,
        )
    if pair_ratios is not None:
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
        if base_value <= 0 or cur_value <= 0:
            reason = "no ratio of a zero value"
        elif pair_ratios is not None:
            valued = sum(1 for r in pair_ratios if math.isfinite(r) and r > 0)
            reason = (
                f"{len(pair_ratios) - valued} of {len(pair_ratios)} block pairs have no value"
                if valued < len(pair_ratios)
                else f"needs >= 2 block pairs to bound, had {len(pair_ratios)}"
            )
        else:
            reason = (
                f"needs >= 2 windows on each side to bound (baseline "
                f"{len(base_samples)}, current {len(cur_samples)})"
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
    return Row(
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


def _pair_ratios(pairs: Sequence[BlockPair], metric: str) -> list[float]:
    """Each pair's current / baseline value of a metric (NaN where the baseline's is not
    positive: paired_change then refuses to bound it)."""
    ratios = []
    for pair in pairs:
        old = metric_value(pair.baseline, metric)
        ratios.append(metric_value(pair.current, metric) / old if old > 0 else math.nan)
    return ratios


def _step_rows(
    base: StepResult,
    cur: StepResult,
    tolerances: Tolerances,
    warnings: list[str],
    earlier: Sequence[Mapping[str, Any]],
    pairs: Sequence[BlockPair] | None = None,
) -> list[Row]:
    # Samples are the step's measured windows (the stable ones its aggregate is computed over),
    # not the road to stability before them: a warm-up trend is not run-to-run noise.
    rows: list[Row] = []
    for name, tolerance in tolerances.gated().items():
        metric = METRICS[name]
        if not metric.per_step:
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
            _row(
                base.load_point,
                metric,
                tolerance,
                base_value,
                cur_value,
                base_samples,
                cur_samples,
                tolerances,
                shortfall,
                earlier,
                None if pairs is None else _pair_ratios(pairs, name),
            )
        )
    return rows


def _capacity_samples(measurement: Measurement) -> list[float]:
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


def _attribution(base: StepResult, cur: StepResult) -> str:
    """Which part of a request's latency moved, from the server's statistics split."""
    total_us = (cur.avg_ms - base.avg_ms) * 1000.0
    head = f"{base.load_point} latency {_signed(total_us / 1000.0, 'ms')} (avg)"
    if base.server.requests == 0 or cur.server.requests == 0:
        return f"{head}; the server split is unavailable (statistics extension off?)"

    def compute(s: StepResult) -> float:
        return s.server.compute_input_us + s.server.compute_infer_us + s.server.compute_output_us

    parts = {
        "queue": (base.server.queue_us, cur.server.queue_us),
        "compute": (compute(base), compute(cur)),
        "server overhead": (base.server.overhead_us, cur.server.overhead_us),
        "client side": (base.client_overhead_us, cur.client_overhead_us),
    }
    described = []
    for name, (old, new) in parts.items():
        rel = f" ({(new / old - 1.0) * 100.0:+.0f}%)" if old > 0 else ""
        described.append(f"{name} {_signed((new - old) / 1000.0, 'ms')}{rel}")
    mover = max(parts, key=lambda k: abs(parts[k][1] - parts[k][0]))
    moved_us = parts[mover][1] - parts[mover][0]
    share = ""
    if abs(total_us) > 0 and moved_us * total_us > 0:
        share = f", {min(abs(moved_us / total_us), 1.0) * 100.0:.0f}% of the change"
    return f"{head}: " + ", ".join(described) + f" -> mostly {mover}{share}"


def _explained(row: Row, slowdown: float) -> bool:
    """Could neighbours alone have caused this regression? At worst (our processes wanting
    every CPU) losing Δ of n CPUs to them slows us by n / (n - Δ): latency up by that factor,
    throughput down by it. Beyond that, plus the tolerance, the build is to blame."""
    change = row.change
    if change is None:
        return True
    if row.definition.direction is Direction.LOWER_IS_BETTER:
        return change.low <= slowdown * (1.0 + row.tolerance)
    return change.high >= (1.0 - row.tolerance) / slowdown


def _guard(
    point: str,
    rows: list[Row],
    baseline_load: MachineLoad | None,
    current_load: MachineLoad | None,
    tolerances: Tolerances,
    warnings: list[str],
) -> list[Row]:
    """A slowdown measured on a machine that was itself slower than during the baseline cannot
    be blamed on the build, unless it is larger than the machine's slowdown could cause:
    downgrade it to inconclusive and say why. The sign of a slower machine: neighbours took
    more CPU (from /proc/stat; its steal time is the hypervisor running other guests on our
    CPUs). A fixed CPU-speed probe was tried for neighbours the VM cannot see and dropped: on
    the shared development VM it read 1.4 or 2.5 ms from one second to the next while the
    models' latency did not follow, and it excused real regressions at random (docs/
    baselines.md). A baseline recorded on a busy machine hides regressions rather than
    inventing them, so it only warns."""
    guard = tolerances.contention_guard
    if guard is None or baseline_load is None or current_load is None:
        return rows
    cpus = max(current_load.cpus, 1)
    limit = guard * cpus
    reasons: list[str] = []
    slowdown = 1.0
    old, new = baseline_load.foreign.get(point), current_load.foreign.get(point)
    if old is not None and new is not None:
        if old > limit:
            warnings.append(
                f"{point}: the baseline was measured while other processes used {old:.2f} of "
                f"{cpus} CPUs; re-record it on a quieter machine"
            )
        if new - old > limit:
            slowdown = cpus / max(cpus - (new - old), 0.1 * cpus)
            reasons.append(f"other processes used {new:.2f} of {cpus} CPUs vs {old:.2f}")
        elif old - new > limit:
            quieter = f"machine quieter: other processes used {new:.2f} of {cpus} CPUs vs {old:.2f}"
            rows = [
                replace(r, reason=quieter) if r.outcome is Outcome.IMPROVED else r for r in rows
            ]
    if slowdown <= 1.0:
        return rows
    busier = f"{BUSIER}: " + "; ".join(reasons)
    out = [
        replace(r, outcome=Outcome.INCONCLUSIVE, reason=busier)
        if r.outcome is Outcome.REGRESSION and _explained(r, slowdown)
        else r
        for r in rows
    ]
    if any(r.reason == busier for r in out):
        warnings.append(
            f"{point}: not failing: the machine was slower than during the baseline ("
            f"{'; '.join(reasons)}), enough to slow it by up to {(slowdown - 1.0) * 100.0:.0f}%,"
            " so a slowdown here cannot be told from a neighbour's load; rerun on a quieter "
            "machine"
        )
    return out


def compare(
    baseline: Measurement,
    current: Measurement,
    tolerances: Tolerances | None = None,
    notes: Sequence[str] = (),
    baseline_load: MachineLoad | None = None,
    current_load: MachineLoad | None = None,
    earlier_sessions: Sequence[Mapping[str, Any]] = (),
    pairs: Mapping[str, Sequence[BlockPair]] | None = None,
) -> Verdict:
    """Compare a measurement with its baseline, metric by metric, step by step.

    With the machine load of both runs, regressions measured on a busier machine are not
    trusted (see `_guard`). `earlier_sessions` are the baseline's earlier sessions (summaries,
    pytest_triton.baseline.sessions): the baseline's values are then their mean with it.
    `pairs` (load point -> block pairs) come with a baseline measured in turn on the same
    server: steps that have them are bounded by them (pytest_triton.change.paired_change)."""
    tolerances = tolerances or Tolerances()
    warnings: list[str] = []
    out_notes = list(notes)
    rows: list[Row] = []
    # Probes are single-window looks an auto ramp takes while searching: never judged.
    base_steps = {s.load_point: s for s in baseline.steps if not s.probe}
    attributions: list[str] = []
    for cur in (s for s in current.steps if not s.probe):
        base = base_steps.get(cur.load_point)
        if base is None:
            out_notes.append(f"{cur.load_point} has no baseline step (new load point)")
            continue
        step_pairs = None if pairs is None else pairs.get(cur.load_point)
        step_rows = _step_rows(base, cur, tolerances, warnings, earlier_sessions, step_pairs)
        step_rows = _guard(
            cur.load_point, step_rows, baseline_load, current_load, tolerances, warnings
        )
        rows.extend(step_rows)
        if not cur.stable or not base.stable:
            side = "current run" if not cur.stable else "baseline"
            warnings.append(
                f"{cur.load_point} did not stabilise in the {side}; its interval is "
                "wide and its verdict weak"
            )
        if base.client_bound or cur.client_bound:
            warnings.append(
                f"{cur.load_point} was client-bound: the load generator, not the server, limited it"
            )
        if any(_moved(r) for r in step_rows):
            attributions.append(_attribution(base, cur))
    current_points = {s.load_point for s in current.steps if not s.probe}
    for point in base_steps:
        if point not in current_points:
            out_notes.append(f"{point} is in the baseline but was not measured now")
    cap_tolerance = tolerances.gated().get("capacity")
    if cap_tolerance is not None and baseline.capacity is not None and current.capacity is not None:
        rows.append(
            _row(
                "",
                METRICS["capacity"],
                cap_tolerance,
                baseline.capacity,
                current.capacity,
                _capacity_samples(baseline),
                _capacity_samples(current),
                tolerances,
                earlier=earlier_sessions,
            )
        )
    for row in rows:
        if (
            row.outcome is Outcome.INCONCLUSIVE
            and row.change is not None
            and not row.machine_busier
        ):
            warnings.append(
                f"{row.name} may have regressed: {_pct(row)} with interval "
                f"[{row.change.low_pct:+.1f}%, {row.change.high_pct:+.1f}%] spans the "
                f"{row.tolerance * 100:.0f}% tolerance; not failing on a maybe"
            )
    return Verdict(
        tuple(rows), tuple(attributions), tuple(out_notes), tuple(warnings), tolerances.confidence
    )


def _moved(row: Row) -> bool:
    return row.outcome in (Outcome.REGRESSION, Outcome.IMPROVED, Outcome.INCONCLUSIVE)


def _pairs_line(row: Row) -> str:
    """'c8 throughput: -1.8% +10.9% +10.9% -12.0% (4 pairs in time order)'."""
    changes = " ".join(
        f"{(r - 1.0) * 100.0:+.1f}%" if math.isfinite(r) else "n/a" for r in row.pair_ratios
    )
    return f"{row.name}: {changes} ({len(row.pair_ratios)} pairs in time order)"


# ---------------------------------------------------------------------------------------------
# Rendering


def _signed(value: float, unit: str) -> str:
    return f"{value:+.3f} {unit}" if abs(value) < 1 else f"{value:+.2f} {unit}"


def _number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if magnitude >= 1 else f"{value:.3f}"


def _value(value: float, metric: MetricDef) -> str:
    return f"{_number(value)}/s" if metric.unit == "infer/s" else f"{_number(value)} ms"


def _pct(row: Row) -> str:
    if row.change is not None:
        return f"{row.change.pct:+.1f}%"
    if row.baseline > 0:
        return f"{(row.current / row.baseline - 1.0) * 100.0:+.1f}%"
    return "n/a"


def render_table(rows: Sequence[Row], confidence: float = 0.95) -> str:
    """A plain-text table: metric, baseline, current, change [interval], tolerance, verdict."""
    level = f"{confidence * 100:.0f}%"
    header = ("metric", "baseline", "current", f"change [{level} CI]", "tolerance", "verdict")
    body: list[tuple[str, ...]] = []
    for r in rows:
        if r.change is not None:
            change = f"{_pct(r)} [{r.change.low_pct:+.1f}%, {r.change.high_pct:+.1f}%]"
        else:
            change = f"{_pct(r)} [no interval]"
        sign = "+" if r.definition.direction is Direction.LOWER_IS_BETTER else "-"
        verdict = r.outcome.value + (f" ({r.reason})" if r.reason else "")
        body.append(
            (
                r.name,
                _value(r.baseline, r.definition),
                _value(r.current, r.definition),
                change,
                f"{sign}{r.tolerance * 100:.0f}%",
                verdict,
            )
        )
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header) - 1)]

    def fmt(line: tuple[str, ...]) -> str:
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line[:-1], widths, strict=True))
        ]
        return "  ".join((*cells, line[-1])).rstrip()

    return "\n".join([fmt(header), *(fmt(line) for line in body)])
