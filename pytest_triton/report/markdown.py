"""Markdown for CI: a pull-request comment or $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pytest_triton.judge.table import pct
from pytest_triton.report.model_parts import (
    COMPOSING_HEADER,
    STREAM_HEADER,
    composing_rows,
    stream_rows,
)
from pytest_triton.report.outcome import TestEntry, counts
from pytest_triton.search.result import SearchResult
from pytest_triton.server.base import ServerIdentity

_ICONS = {"passed": "✅", "failed": "❌", "error": "❌", "interrupted": "⏹", "xpassed": "⚠️"}


# A table longer than this many rows is folded into <details>: a pull-request comment stays
# readable with a large suite.
FOLD_ROWS = 20


def render_markdown(entries: Sequence[TestEntry], server: ServerIdentity | None) -> str:
    lines = ["## Triton performance gate", ""]
    if server:
        # the binary's name, not its path: a report is shared beyond the machine it ran on
        source = Path(server.source).name if server.kind == "local" else server.source
        lines.append(f"Triton {server.version} ({server.kind}: `{source}`)")
        lines.append("")
    everything_passed = bool(entries) and all(e.outcome == "passed" for e in entries)
    verdict = counts(list(entries)) + (" ✅" if everything_passed else "")
    if not entries:
        verdict += " in this process: nothing was measured or judged here"
    lines.append(f"{len(entries)} Triton test(s): {verdict}.")
    lines.append("")
    # failures first: what a reviewer must look at
    entries = sorted(entries, key=lambda e: e.outcome == "passed")
    table = [
        "| test | model | load | infer/s | p50 ms | p99 ms | queue µs | compute µs "
        "| change vs baseline | result |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for entry in entries:
        status = f"{_ICONS.get(entry.outcome, '')} {entry.outcome}{_why(entry)}".strip()
        first = True
        for r in entry.results:
            m = r.measurement
            changes = {row.name: row for row in r.baseline_rows}
            for i, s in enumerate(m.steps):
                split = s.server
                compute = split.compute_input_us + split.compute_infer_us + split.compute_output_us
                flags = [
                    f
                    for f, on in (("unstable", not s.stable), ("client-bound", s.client_bound))
                    if on
                ]
                moved = ", ".join(
                    f"{metric} {pct(row)} {row.outcome.value}"
                    for metric in ("p50", "throughput")
                    if (row := changes.get(f"{s.load_point} {metric}")) is not None
                )
                table.append(
                    f"| {'`' + entry.nodeid + '`' if first else ''} | {m.model if i == 0 else ''} "
                    f"| {s.load_point}{' (' + ', '.join(flags) + ')' if flags else ''} "
                    f"| {s.throughput:.1f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} "
                    f"| {split.queue_us:.0f} | {compute:.0f} | {moved} "
                    f"| {status if first else ''} |"
                )
                first = False
        if first:  # nothing measured: errored, skipped or failed before measuring
            table.append(f"| `{entry.nodeid}` | | | | | | | | | {status} |")
    lines += _folded(table, "measurements")
    for entry in entries:
        for r in entry.results:
            for title, header, rows in (
                ("Token stream", STREAM_HEADER, stream_rows(r.measurement.steps)),
                ("Models it ran", COMPOSING_HEADER, composing_rows(r.measurement.steps)),
            ):
                if rows:
                    lines += ["", f"### {title}: `{r.model.name}` in `{entry.nodeid}`", ""]
                    lines += _folded(_table(header, rows), title.lower())
            if r.search is not None:
                lines += ["", f"### Search of `{r.model.name}` in `{entry.nodeid}`", ""]
                lines += _search_table(r.search)
    for entry in entries:
        notes = [n for r in entry.results for n in r.notes]
        if entry.reason or notes:
            lines += ["", f"### `{entry.nodeid}`: {entry.outcome}{_why(entry)}", ""]
            lines += ["```", entry.reason.strip(), "```"] if entry.reason else []
            lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _why(entry: TestEntry) -> str:
    return f" ({entry.why})" if entry.outcome == "failed" else ""


def _search_table(result: SearchResult) -> list[str]:
    from pytest_triton.search.table import rows

    out = ["| # | config | infer/s | p99 ms | at | status |", "|---:|---|---:|---:|---|---|"]
    for row in rows(result):
        thr = f"{row.throughput:.1f}" if row.throughput is not None else ""
        p99 = f"{row.p99_ms:.2f}" if row.p99_ms is not None else ""
        config = row.config + (" **(committed)**" if row.committed else "")
        rank = row.rank if row.rank is not None else ""
        out.append(f"| {rank} | {config} | {thr} | {p99} | {row.load_point} | {row.status} |")
    return out


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    aligns = ["---"] + [
        "---:" if c.endswith(("ms", "/s", "µs", "requests", "request")) else "---"
        for c in header[1:]
    ]
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(aligns) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _folded(table: list[str], what: str) -> list[str]:
    """A long table inside <details> (its header and alignment rows are not counted)."""
    if len(table) - 2 <= FOLD_ROWS:
        return table
    return [
        f"<details><summary>{len(table) - 2} rows of {what}</summary>",
        "",
        *table,
        "",
        "</details>",
    ]
