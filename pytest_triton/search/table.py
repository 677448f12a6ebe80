"""A search's ranked table, one row per point, for every report format."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_triton.search.gates import label
from pytest_triton.search.result import SearchResult


@dataclass(frozen=True)
class SearchRow:
    rank: int | None  # 1 = the winner; None: not eligible
    config: str
    throughput: float | None  # of the step the config is judged by
    p99_ms: float | None
    load_point: str
    gpu_memory_mb: float | None
    objective: float | None  # 0..1, 1 = best on every objective
    status: str  # "eligible", the bound it broke, why it was skipped, or "not measured"
    committed: bool


def rows(result: SearchResult) -> list[SearchRow]:
    out: list[SearchRow] = []
    rank = 0
    for entry in result.entries:
        step = entry.scored.step
        if entry.scored.eligible:
            rank += 1
            status = "eligible"
        elif entry.look is not None:
            step = entry.look
            status = "looked at only: its probe ramp's best (quick measures the best looks)"
        elif entry.trial.skipped:
            status = f"skipped: {entry.trial.skipped}"
        elif not entry.measured:
            status = "not measured (not needed by the search)"
        else:
            status = f"ineligible: {entry.scored.broken}"
        out.append(
            SearchRow(
                rank if entry.scored.eligible else None,
                label(entry),
                step.throughput if step is not None else None,
                step.p99_ms if step is not None else None,
                step.load_point if step is not None else "",
                step.metrics.get("gpu_memory_used_mb") if step is not None else None,
                entry.scored.score if entry.scored.eligible else None,
                status,
                entry.committed,
            )
        )
    return out


def render(result: SearchResult) -> list[str]:
    """The table as text lines (terminal and test notes)."""
    lines = [f"{'#':>3}  {'throughput':>12}  {'p99 ms':>8}  {'at':<5} config"]
    for row in rows(result):
        rank = f"{row.rank:>3}" if row.rank is not None else "  -"
        thr = f"{row.throughput:8.1f}/s" if row.throughput is not None else f"{'-':>10}"
        p99 = f"{row.p99_ms:8.2f}" if row.p99_ms is not None else f"{'-':>8}"
        mark = " (committed)" if row.committed else ""
        tail = "" if row.status == "eligible" else f"  [{row.status}]"
        lines.append(f"{rank}  {thr:>12}  {p99}  {row.load_point:<5} {row.config}{mark}{tail}")
    return lines
