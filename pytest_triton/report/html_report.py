"""A self-contained HTML report with curves: throughput vs load, latency vs throughput.

Inline SVG, no JavaScript, no external assets: the file opens from a CI artifact as it is.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from pytest_triton.record import MeasurementRecord
from pytest_triton.report.model_parts import (
    COMPOSING_HEADER,
    STREAM_HEADER,
    composing_rows,
    stream_rows,
)
from pytest_triton.report.outcome import TestEntry, counts
from pytest_triton.search.fragment import describe_point
from pytest_triton.search.result import SearchResult
from pytest_triton.server.base import ServerIdentity
from pytest_triton.spec import SLO

_W, _H, _PAD = 420, 240, 44
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td:first-child { text-align: left; }
.pass { color: #2a7d2a; } .fail { color: #b00020; font-weight: bold; }
pre { background: #f7f7f7; padding: .6em; overflow-x: auto; }
svg { margin-right: 1.5em; } .charts { display: flex; flex-wrap: wrap; }
"""


def _chart(
    title: str,
    x_label: str,
    y_label: str,
    series: list[tuple[str, list[tuple[float, float]]]],
    bounds: Sequence[tuple[str, float]] = (),
) -> str:
    """A line chart; `bounds` are horizontal lines (an SLO's latency bound) with their label."""
    points = [p for _, pts in series for p in pts]
    if not points:
        return ""
    x_max = max(x for x, _ in points) or 1.0
    y_max = max([y for _, y in points] + [b for _, b in bounds]) or 1.0

    def sx(x: float) -> float:
        return _PAD + (x / x_max) * (_W - 2 * _PAD)

    def sy(y: float) -> float:
        return _H - _PAD - (y / y_max) * (_H - 2 * _PAD)

    out = [
        f'<svg width="{_W}" height="{_H}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{_W / 2}" y="16" text-anchor="middle" font-size="13">'
        f"{html.escape(title)}</text>",
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#888"/>',
        f'<line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_H - _PAD}" stroke="#888"/>',
        f'<text x="{_W / 2}" y="{_H - 8}" text-anchor="middle" font-size="11">'
        f"{html.escape(x_label)}</text>",
        f'<text x="12" y="{_H / 2}" font-size="11" transform="rotate(-90 12 {_H / 2})" '
        f'text-anchor="middle">{html.escape(y_label)}</text>',
        f'<text x="{_PAD - 4}" y="{_PAD + 4}" text-anchor="end" font-size="10">{y_max:.4g}</text>',
        f'<text x="{_W - _PAD}" y="{_H - _PAD + 14}" text-anchor="end" font-size="10">'
        f"{x_max:.4g}</text>",
    ]
    for i, (name, pts) in enumerate(series):
        colour = _COLOURS[i % len(_COLOURS)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        out += [
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}"/>' for x, y in pts
        ]
        out.append(
            f'<text x="{_W - _PAD}" y="{_PAD + 14 * i}" text-anchor="end" font-size="11" '
            f'fill="{colour}">{html.escape(name)}</text>'
        )
    for name, bound in bounds:
        out.append(
            f'<line x1="{_PAD}" y1="{sy(bound):.1f}" x2="{_W - _PAD}" y2="{sy(bound):.1f}" '
            'stroke="#b00020" stroke-dasharray="5,3"/>'
        )
        out.append(
            f'<text x="{_PAD + 4}" y="{sy(bound) - 4:.1f}" font-size="10" fill="#b00020">'
            f"{html.escape(name)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)


def _entry(entry: TestEntry) -> str:
    kind = "pass" if entry.outcome == "passed" else "fail"
    why = f" ({entry.why})" if entry.outcome == "failed" else ""
    status = f'<span class="{kind}">{html.escape(entry.outcome + why)}</span>'
    reason = f"<pre>{html.escape(entry.reason.strip())}</pre>" if entry.reason else ""
    return (
        f"<h2>{html.escape(entry.nodeid)} {status}</h2>"
        + "".join(_section(r) for r in entry.results)
        + reason
    )


def _section(record: MeasurementRecord) -> str:
    m = record.measurement
    steps = sorted(m.steps, key=lambda s: (s.concurrency or 0, s.request_rate or 0))
    load = [
        float(s.concurrency if s.concurrency is not None else s.request_rate or 0) for s in steps
    ]
    x_name = (
        "concurrency" if steps and steps[0].concurrency is not None else "request rate (infer/s)"
    )
    throughput = _chart(
        "Throughput vs load",
        x_name,
        "infer/s",
        [("throughput", [(x, s.throughput) for x, s in zip(load, steps, strict=True)])],
    )
    latency = _chart(
        "Latency vs throughput",
        "infer/s",
        "ms",
        [
            ("p50", [(s.throughput, s.p50_ms) for s in steps]),
            ("p99", [(s.throughput, s.p99_ms) for s in steps]),
        ],
    )
    rows = "".join(
        f"<tr><td>{html.escape(s.load_point)}</td><td>{s.throughput:.1f}</td><td>{s.p50_ms:.2f}</td>"
        f"<td>{s.p95_ms:.2f}</td><td>{s.p99_ms:.2f}</td><td>{s.server.queue_us:.0f}</td>"
        f"<td>{s.server.compute_infer_us:.0f}</td><td>{s.client_overhead_us:.0f}</td>"
        f"<td>{'yes' if s.stable else 'no'}</td><td>{s.errors}</td></tr>"
        for s in steps
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in record.notes)
    parts = "".join(
        _plain_table(title, header, rows)
        for title, header, rows in (
            ("Token stream", STREAM_HEADER, stream_rows(steps)),
            ("Models it ran", COMPOSING_HEADER, composing_rows(steps)),
        )
        if rows
    )
    return (
        f"<h3>{html.escape(m.model)}</h3>"
        f'<div class="charts">{throughput}{latency}</div>'
        "<table><tr><th>load</th><th>infer/s</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th>"
        "<th>queue µs</th><th>compute µs</th><th>client µs</th><th>stable</th><th>errors</th></tr>"
        f"{rows}</table>{parts}{'<ul>' + notes + '</ul>' if notes else ''}"
        + (_search(record.search, record.slo) if record.search is not None else "")
    )


def _plain_table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<h4>{html.escape(title)}</h4><table><tr>{head}</tr>{body}</table>"


def _search(result: SearchResult, slo: SLO | None) -> str:
    """The ranked configs, and the latency-vs-throughput curves of the top ones on one chart."""
    from pytest_triton.search.table import rows

    top = [e for e in result.entries if e.measured][: len(_COLOURS)]
    series = []
    for entry in top:
        measurement = entry.trial.measurement
        assert measurement is not None
        steps = sorted(measurement.steps, key=lambda s: s.throughput)
        name = describe_point(entry.trial.point) + (" (committed)" if entry.committed else "")
        series.append((name, [(s.throughput, s.p99_ms) for s in steps]))
    budget = slo.p99_ms if slo is not None else None
    bounds = [(f"p99 bound {budget:g} ms", budget)] if budget is not None else []
    chart = _chart("p99 vs throughput of the top configs", "infer/s", "p99 ms", series, bounds)
    body = "".join(
        f"<tr><td>{row.rank or '-'}</td><td>{html.escape(row.config)}"
        f"{' <b>(committed)</b>' if row.committed else ''}</td>"
        f"<td>{'' if row.throughput is None else f'{row.throughput:.1f}'}</td>"
        f"<td>{'' if row.p99_ms is None else f'{row.p99_ms:.2f}'}</td>"
        f"<td>{html.escape(row.load_point)}</td><td>{html.escape(row.status)}</td></tr>"
        for row in rows(result)
    )
    return (
        f"<h3>Search ({html.escape(result.mode)}, {html.escape(result.objectives.describe())})"
        f'</h3><div class="charts">{chart}</div>'
        "<table><tr><th>#</th><th>config</th><th>infer/s</th><th>p99 ms</th><th>at</th>"
        f"<th>status</th></tr>{body}</table>"
    )


def render_html(entries: Sequence[TestEntry], server: ServerIdentity | None) -> str:
    where = (
        f"<p>Triton {html.escape(server.version)} ({html.escape(server.kind)}: "
        f"<code>{html.escape(server.source)}</code>)</p>"
        if server
        else ""
    )
    tally = f"<p>{len(entries)} Triton test(s): {html.escape(counts(list(entries)))}</p>"
    body = tally + "".join(_entry(e) for e in entries)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>pytest-triton report</title>"
        f"<style>{_STYLE}</style></head><body><h1>Triton performance report</h1>{where}{body}"
        "</body></html>\n"
    )
