"""How a verdict reads: the table of rows, and the figures in it."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pytest_triton.judge.rows import Row
from pytest_triton.judge.tolerance import Direction, MetricDef


def signed(value: float, unit: str) -> str:
    return f"{value:+.3f} {unit}" if abs(value) < 1 else f"{value:+.2f} {unit}"


def _number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if magnitude >= 1 else f"{value:.3f}"


def _value(value: float, metric: MetricDef) -> str:
    return f"{_number(value)}/s" if metric.unit.endswith("/s") else f"{_number(value)} ms"


def pct(row: Row) -> str:
    if row.change is not None:
        return f"{row.change.pct:+.1f}%"
    if row.baseline > 0:
        return f"{(row.current / row.baseline - 1.0) * 100.0:+.1f}%"
    return "n/a"


def pairs_line(row: Row) -> str:
    """'c8 throughput: -1.8% +10.9% +10.9% -12.0% (4 pairs in time order)'."""
    changes = " ".join(
        f"{(r - 1.0) * 100.0:+.1f}%" if math.isfinite(r) else "n/a" for r in row.pair_ratios
    )
    return f"{row.name}: {changes} ({len(row.pair_ratios)} pairs in time order)"


def render_table(rows: Sequence[Row], confidence: float = 0.95) -> str:
    """A plain-text table: metric, baseline, current, change [interval], tolerance, the
    smallest change the comparison could call (sees), verdict."""
    level = f"{confidence * 100:.0f}%"
    header = (
        "metric", "baseline", "current", f"change [{level} CI]", "tolerance", "sees", "verdict"
    )  # fmt: skip
    body: list[tuple[str, ...]] = []
    for r in rows:
        if r.change is not None:
            change = f"{pct(r)} [{r.change.low_pct:+.1f}%, {r.change.high_pct:+.1f}%]"
        else:
            change = f"{pct(r)} [no interval]"
        sign = "+" if r.definition.direction is Direction.LOWER_IS_BETTER else "-"
        seen = r.resolution
        sees = "-" if seen is None else f"{sign}{seen * 100:.0f}%"
        verdict = r.outcome.value + (f" ({r.reason})" if r.reason else "")
        body.append(
            (
                r.name,
                _value(r.baseline, r.definition),
                _value(r.current, r.definition),
                change,
                f"{sign}{r.tolerance * 100:.0f}%",
                sees,
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
