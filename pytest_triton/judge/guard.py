"""Regressions a busier machine could explain are not trusted: the contention guard."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from pytest_triton.judge.rows import BUSIER, QUIETER, Outcome, Row
from pytest_triton.judge.tolerance import Direction, Tolerances


@dataclass(frozen=True)
class MachineLoad:
    """CPUs other processes used while each step was measured (observe/machine_load.py)."""

    cpus: int
    foreign: Mapping[str, float] = field(default_factory=dict)  # load point -> CPUs


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


def _explained_gain(row: Row, speedup: float) -> bool:
    """The mirror of _explained: could neighbours leaving alone have caused this improvement?
    An improvement needs the same evidence as a regression."""
    change = row.change
    if change is None:
        return True
    if row.definition.direction is Direction.LOWER_IS_BETTER:
        return change.high >= (1.0 - row.tolerance) / speedup
    return change.low <= speedup * (1.0 + row.tolerance)


def guard(
    point: str,
    rows: list[Row],
    baseline_load: MachineLoad | None,
    current_load: MachineLoad | None,
    tolerances: Tolerances,
    warnings: list[str],
) -> list[Row]:
    """A slowdown measured on a machine that was itself slower than during the baseline cannot
    be blamed on the build, unless it is larger than the machine's slowdown could cause:
    downgrade it to inconclusive and say why; likewise a speedup on a machine that was
    quieter. The sign of a slower machine: neighbours took more CPU (from /proc/stat; its steal
    time is the hypervisor running other guests on our CPUs). A fixed CPU-speed probe was tried
    for neighbours the VM cannot see and dropped: on the shared development VM it read 1.4 or
    2.5 ms from one second to the next while the models' latency did not follow, and it
    excused real regressions at random (docs/validation.md). A baseline recorded on a busy
    machine hides regressions rather than inventing them: it gets a warning too."""
    share = tolerances.contention_guard
    if share is None or baseline_load is None or current_load is None:
        return rows
    cpus = max(current_load.cpus, 1)
    limit = share * cpus
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
            speedup = cpus / max(cpus - (old - new), 0.1 * cpus)
            quieter = f"{QUIETER}: other processes used {new:.2f} of {cpus} CPUs vs {old:.2f}"
            rows = [
                replace(r, outcome=Outcome.INCONCLUSIVE, reason=quieter)
                if r.outcome is Outcome.IMPROVED and _explained_gain(r, speedup)
                else r
                for r in rows
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
