"""(baseline, current, tolerances) -> Verdict: which metrics regressed, improved or held, and why.

A metric regresses only when the whole confidence interval of its change lies beyond the
tolerance in the worse direction; it improved when the whole interval lies beyond it in the
better direction. An interval that straddles the tolerance is "inconclusive": reported, never
failing, because a gate that fails on maybe is a gate people learn to ignore.

Steps are matched by load point (c4 = concurrency 4, r100 = 100 infer/s) and judged metric by
metric (rows.py), regressions a busier machine explains are not trusted (guard.py). The message
a failing test shows is a table (table.py) plus attribution (attribution.py: did the server
queue, compute, or the client side move?) built from the per-window server split both sides
recorded. Paired with the baseline build (pytest_triton.load.paired), a step's spread comes from
its block pairs instead of its windows, and every row that is not ok lists its pairs' changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pytest_triton.judge.attribution import attribution
from pytest_triton.judge.guard import MachineLoad, guard
from pytest_triton.judge.rows import (
    Outcome,
    Row,
    capacity_samples,
    metric_row,
    step_rows,
)
from pytest_triton.judge.table import pairs_line, pct, render_table
from pytest_triton.judge.tolerance import METRICS, Tolerances
from pytest_triton.result import BlockPair, Measurement


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

    @property
    def coarsest(self) -> Row | None:
        """The gated row with the largest resolution: the change the test as a whole needs to
        be sure of catching, whichever metric moves."""
        seen = [r for r in self.rows if r.resolution is not None]
        return max(seen, key=lambda r: r.resolution or 0.0) if seen else None

    @property
    def blind(self) -> tuple[Row, ...]:
        """Rows whose tolerance this comparison could not see (Row.blind)."""
        return tuple(r for r in self.rows if r.blind)

    def blindness(self) -> str:
        """What the runner cannot see, in a sentence; '' when it sees every tolerance."""
        if not self.blind:
            return ""
        worst = max(self.blind, key=lambda r: r.resolution or 0.0)
        return (
            f"this runner sees changes of {(worst.resolution or 0.0) * 100:.0f}% or more in "
            f"{worst.name}; the tolerance is {worst.tolerance * 100:.0f}%"
        )

    def what_would_see(self) -> str:
        """What would let the coarsest blind row see its tolerance ('' when nothing to say)."""
        if not self.blind:
            return ""
        return max(self.blind, key=lambda r: r.resolution or 0.0).advice

    def summary(self) -> str:
        """One line for the session summary."""
        parts: list[str] = []
        if self.regressions:
            parts.append(
                f"{len(self.regressions)} regression(s): "
                + ", ".join(f"{r.name} {pct(r)}" for r in self.regressions)
            )
        if self.improvements:
            parts.append(
                f"{len(self.improvements)} improvement(s): "
                + ", ".join(f"{r.name} {pct(r)}" for r in self.improvements)
            )
        inconclusive = self._with(Outcome.INCONCLUSIVE)
        busier = [r for r in inconclusive if r.machine_busier]
        if busier:
            parts.append(
                f"{len(busier)} not trusted (machine busier): "
                + ", ".join(f"{r.name} {pct(r)}" for r in busier)
            )
        quieter = [r for r in inconclusive if r.machine_quieter]
        if quieter:
            parts.append(
                f"{len(quieter)} not trusted (machine quieter): "
                + ", ".join(f"{r.name} {pct(r)}" for r in quieter)
            )
        maybe = [r for r in inconclusive if not (r.machine_busier or r.machine_quieter)]
        if maybe:  # named, so the session summary says which figure to keep an eye on
            parts.append(
                f"{len(maybe)} inconclusive: " + ", ".join(f"{r.name} {pct(r)}" for r in maybe)
            )
        not_gated = self._with(Outcome.NOT_GATED)
        if not_gated:
            parts.append(f"{len(not_gated)} not gated")
        gated = len(self.rows) - len(not_gated)
        line = "; ".join(parts) if parts else f"within tolerance ({gated} metric(s) gated)"
        coarsest = self.coarsest
        if coarsest is not None and coarsest.resolution is not None:
            line += f"; sees {coarsest.resolution * 100:.0f}% ({coarsest.name})"
        return line

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
            lines.extend(f"pairs: {pairs_line(r)}" for r in paired)
        if self.notes:
            lines.append("")
            lines.extend(f"changed: {n}" for n in self.notes)
        if self.warnings:
            lines.append("")
            lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def compare(
    baseline: Measurement,
    current: Measurement,
    tolerances: Tolerances | None = None,
    notes: Sequence[str] = (),
    baseline_load: MachineLoad | None = None,
    current_load: MachineLoad | None = None,
    earlier_sessions: Sequence[Mapping[str, Any]] = (),
    pairs: Mapping[str, Sequence[BlockPair]] | None = None,
    noise: Mapping[str, float] | None = None,
) -> Verdict:
    """Compare a measurement with its baseline, metric by metric, step by step.

    With the machine load of both runs, regressions measured on a busier machine are not
    trusted (see `guard`). `earlier_sessions` are the baseline's earlier sessions (summaries,
    pytest_triton.baseline.history): the baseline's values are then their mean with it.
    `pairs` (load point -> block pairs) come with a baseline measured in turn on the same
    server: steps that have them are bounded by them (pytest_triton.judge.change.paired_change).
    `noise` (row name -> relative SD) is the runner's noise a calibration measured, in place
    of the tolerances' run noise for those rows."""
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
        point_rows = step_rows(base, cur, tolerances, warnings, earlier_sessions, step_pairs, noise)
        point_rows = guard(
            cur.load_point, point_rows, baseline_load, current_load, tolerances, warnings
        )
        rows.extend(point_rows)
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
        if any(_moved(r) for r in point_rows):
            attributions.append(attribution(base, cur))
    current_points = {s.load_point for s in current.steps if not s.probe}
    for point in base_steps:
        if point not in current_points:
            out_notes.append(f"{point} is in the baseline but was not measured now")
    cap_tolerance = tolerances.gated().get("capacity")
    if cap_tolerance is not None and baseline.capacity is not None and current.capacity is not None:
        bounded = [
            side
            for side, m in (("baseline", baseline), ("current run", current))
            if m.capacity_is_lower_bound
        ]
        if bounded:
            out_notes.append(
                f"capacity of the {' and the '.join(bounded)} is a lower bound: the SLO held at "
                "every step up to where the ramp stopped"
            )
        rows.append(
            metric_row(
                "",
                METRICS["capacity"],
                cap_tolerance,
                baseline.capacity,
                current.capacity,
                capacity_samples(baseline),
                capacity_samples(current),
                tolerances,
                earlier=earlier_sessions,
            )
        )
    for row in rows:
        if (
            row.outcome is Outcome.INCONCLUSIVE
            and row.change is not None
            and not (row.machine_busier or row.machine_quieter)
        ):
            warnings.append(
                f"{row.name} may have regressed: {pct(row)} with interval "
                f"[{row.change.low_pct:+.1f}%, {row.change.high_pct:+.1f}%] spans the "
                f"{row.tolerance * 100:.0f}% tolerance; not failing on a maybe"
            )
    verdict = Verdict(
        tuple(rows), tuple(attributions), tuple(out_notes), tuple(warnings), tolerances.confidence
    )
    blind = verdict.blindness()
    if blind:
        warning = f"{blind}: a change of twice the tolerance can pass unseen"
        advice = verdict.what_would_see()
        warning += f"; {advice}" if advice else ""
        verdict = replace(verdict, warnings=(*verdict.warnings, warning))
    return verdict


def _moved(row: Row) -> bool:
    return row.outcome in (Outcome.REGRESSION, Outcome.IMPROVED, Outcome.INCONCLUSIVE)
