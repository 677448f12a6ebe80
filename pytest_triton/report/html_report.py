"""A self-contained HTML report: a summary linking what failed or regressed, then per test its
curves (throughput vs load; latency vs throughput with the SLO bounds, the baseline curve and
the comparison's band, the auto ramp's probes; GPU memory and utilisation where read) and a
bar per step of where a request's time went.

Inline SVG, no JavaScript, no external assets: the file opens from a CI artifact as it is.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytest_triton.judge.rows import Outcome
from pytest_triton.judge.table import pct
from pytest_triton.record import MeasurementRecord
from pytest_triton.report.model_parts import (
    COMPOSING_HEADER,
    STREAM_HEADER,
    composing_rows,
    stream_rows,
)
from pytest_triton.report.outcome import TestEntry, counts
from pytest_triton.result import StepResult
from pytest_triton.search.fragment import describe_point
from pytest_triton.search.objectives import GPU_MEMORY_METRIC, NVML_MEMORY_METRIC
from pytest_triton.search.result import SearchResult
from pytest_triton.server.base import ServerIdentity
from pytest_triton.spec import SLO

# Chart size, the margin around the plot, and the column on its right the legend takes.
_W, _H, _PAD, _LEGEND = 560, 250, 44, 150
_RIGHT = _W - _LEGEND  # the plot's right edge
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")

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


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[float, float]]
    dashed: bool = False  # a baseline: drawn dashed
    hollow: bool = False  # probes: hollow markers, no line
    # an interval band per x: (x, low, high)
    band: list[tuple[float, float, float]] = field(default_factory=list)


def _ticks(top: float, n: int = 4) -> list[float]:
    """Round tick values from 0 to about `top`."""
    if top <= 0:
        return [0.0]
    raw = top / n
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(top / step) + 1)]


def _chart(
    title: str,
    x_label: str,
    y_label: str,
    series: Sequence[Series],
    bounds: Sequence[tuple[str, float]] = (),
) -> str:
    """A chart with ticked axes; `bounds` are horizontal lines (an SLO's latency bound)."""
    points = [p for s in series for p in s.points] + [
        (x, hi) for s in series for x, _, hi in s.band
    ]
    if not points:
        return ""
    x_max = max(x for x, _ in points) * 1.05 or 1.0
    y_max = max([y for _, y in points] + [b for _, b in bounds]) * 1.1 or 1.0

    def sx(x: float) -> float:
        return _PAD + (x / x_max) * (_RIGHT - _PAD)

    def sy(y: float) -> float:
        return _H - _PAD - (y / y_max) * (_H - 2 * _PAD)

    out = [
        f'<svg class="chart" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="{(_PAD + _RIGHT) / 2}" y="16" text-anchor="middle" font-size="13">'
        f"{html.escape(title)}</text>",
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_RIGHT}" y2="{_H - _PAD}" stroke="#888"/>',
        f'<line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_H - _PAD}" stroke="#888"/>',
        f'<text x="{(_PAD + _RIGHT) / 2}" y="{_H - 6}" text-anchor="middle" font-size="11">'
        f"{html.escape(x_label)}</text>",
        f'<text x="12" y="{_H / 2}" font-size="11" transform="rotate(-90 12 {_H / 2})" '
        f'text-anchor="middle">{html.escape(y_label)}</text>',
    ]
    for t in _ticks(y_max):
        out.append(
            f'<line class="tick" x1="{_PAD - 4}" y1="{sy(t):.1f}" x2="{_RIGHT}" '
            f'y2="{sy(t):.1f}" stroke="#eee"/>'
            f'<text x="{_PAD - 6}" y="{sy(t) + 3:.1f}" text-anchor="end" font-size="9">'
            f"{t:.4g}</text>"
        )
    for t in _ticks(x_max):
        out.append(
            f'<line class="tick" x1="{sx(t):.1f}" y1="{_H - _PAD}" x2="{sx(t):.1f}" '
            f'y2="{_H - _PAD + 4}" stroke="#888"/>'
            f'<text x="{sx(t):.1f}" y="{_H - _PAD + 14}" text-anchor="middle" font-size="9">'
            f"{t:.4g}</text>"
        )
    for i, s in enumerate(series):
        colour = _COLOURS[i % len(_COLOURS)]
        if s.band:
            upper = " ".join(f"{sx(x):.1f},{sy(hi):.1f}" for x, _, hi in s.band)
            lower = " ".join(f"{sx(x):.1f},{sy(lo):.1f}" for x, lo, _ in reversed(s.band))
            out.append(
                f'<polygon class="band" points="{upper} {lower}" fill="{colour}" '
                'fill-opacity="0.15" stroke="none"/>'
            )
        if not s.hollow:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in s.points)
            dash = ' stroke-dasharray="6,3"' if s.dashed else ""
            out.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{path}"/>'
            )
        fill = "none" if s.hollow else colour
        out += [
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{fill}" stroke="{colour}"/>'
            for x, y in s.points
        ]
        out.append(
            f'<text x="{_RIGHT + 10}" y="{_PAD + 14 * i}" font-size="11" '
            f'fill="{colour}">{html.escape(s.name)}</text>'
        )
    for j, (name, bound) in enumerate(bounds):
        out.append(
            f'<line class="bound" x1="{_PAD}" y1="{sy(bound):.1f}" x2="{_RIGHT}" '
            f'y2="{sy(bound):.1f}" stroke="#b00020" stroke-dasharray="5,3"/>'
        )
        out.append(
            f'<text x="{_RIGHT + 10}" y="{_PAD + 14 * (len(series) + j)}" font-size="10" '
            f'fill="#b00020">- - {html.escape(name)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _breakdown(steps: Sequence[StepResult]) -> str:
    """Per step, a bar of where a request's time went: queue, compute, the rest of Triton,
    and the client side (network and client), from the statistics extension."""
    split = [s for s in steps if s.server.requests]
    if not split:
        return ""
    width, row, left = 420, 18, 60
    total = max(s.avg_ms * 1000 for s in split) or 1.0
    parts = (("queue", "#ff7f0e"), ("compute", "#1f77b4"), ("Triton", "#9467bd"),
             ("client", "#7f7f7f"))  # fmt: skip
    height = row * len(split) + 30
    out = [
        f'<svg class="breakdown" width="{width + left + 10}" height="{height}" role="img" '
        'aria-label="Latency breakdown per step">',
        f'<text x="{left}" y="12" font-size="12">Where a request\'s time went (µs)</text>',
    ]
    for i, s in enumerate(split):
        server = s.server
        compute = server.compute_input_us + server.compute_infer_us + server.compute_output_us
        values = (server.queue_us, compute, server.overhead_us, s.client_overhead_us)
        y = 20 + i * row
        out.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end" font-size="10">'
                   f"{html.escape(s.load_point)}</text>")  # fmt: skip
        x = float(left)
        for (name, colour), value in zip(parts, values, strict=True):
            w = max(0.0, value) / total * width
            out.append(
                f'<rect class="part" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 4}" '
                f'fill="{colour}"><title>{name} {value:.0f} µs</title></rect>'
            )
            x += w
    legend = " ".join(f'<tspan fill="{colour}">■ {name}</tspan>' for name, colour in parts)
    out.append(f'<text x="{left}" y="{height - 2}" font-size="10">{legend}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _latency_series(record: MeasurementRecord, steps: Sequence[StepResult]) -> list[Series]:
    """p50 and p99 against throughput; the baseline's p50 curve (dashed) with the 95 % band
    the comparison gave the current p50; the auto ramp's probes (hollow)."""
    out = [
        Series("p50", [(s.throughput, s.p50_ms) for s in steps]),
        Series("p99", [(s.throughput, s.p99_ms) for s in steps]),
    ]
    rows = {row.name: row for row in record.baseline_rows}
    baseline: list[tuple[float, float]] = []
    band: list[tuple[float, float, float]] = []
    for s in steps:
        p50, thr = rows.get(f"{s.load_point} p50"), rows.get(f"{s.load_point} throughput")
        if p50 is None or thr is None:
            continue
        baseline.append((thr.baseline, p50.baseline))
        if p50.change is not None:
            band.append(
                (s.throughput, p50.baseline * p50.change.low, p50.baseline * p50.change.high)
            )
    if baseline:
        out.append(Series("baseline p50, band: now", baseline, dashed=True, band=band))
    probes = [p for p in record.measurement.extra.get("probes", ()) if isinstance(p, StepResult)]
    if probes:
        out.append(Series("probes (p50)", [(p.throughput, p.p50_ms) for p in probes],
                          hollow=True))  # fmt: skip
    return out


def _slo_bounds(slo: SLO | None) -> list[tuple[str, float]]:
    if slo is None:
        return []
    return [(f"SLO {stat} {bound:g} ms", bound) for stat, bound in slo.latency_bounds().items()
            if stat in ("p50", "p90", "p95", "p99", "avg")]  # fmt: skip


def _gpu_chart(steps: Sequence[StepResult]) -> str:
    """GPU memory and utilisation against latency, where a GPU was read."""
    memory = []
    for s in steps:
        used = s.metrics.get(GPU_MEMORY_METRIC, s.metrics.get(NVML_MEMORY_METRIC))
        if used is not None:
            memory.append((s.p50_ms, used))
    utilisation = [
        (s.p50_ms, 100.0 * s.metrics["nvml_gpu_utilization"])
        for s in steps
        if "nvml_gpu_utilization" in s.metrics
    ]
    if not memory and not utilisation:
        return ""
    series = [Series("GPU memory (MB)", memory)] if memory else []
    if utilisation:
        series.append(Series("GPU utilisation (%)", utilisation))
    return _chart("GPU vs latency", "p50 latency (ms)", "MB / %", series)


def _anchor(index: int) -> str:
    return f"test-{index}"


def _entry(index: int, entry: TestEntry) -> str:
    kind = "pass" if entry.outcome == "passed" else "fail"
    why = f" ({entry.why})" if entry.outcome == "failed" else ""
    status = f'<span class="{kind}">{html.escape(entry.outcome + why)}</span>'
    reason = f"<pre>{html.escape(entry.reason.strip())}</pre>" if entry.reason else ""
    return (
        f'<h2 id="{_anchor(index)}">{html.escape(entry.nodeid)} {status}</h2>'
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
        [Series("throughput", [(x, s.throughput) for x, s in zip(load, steps, strict=True)])],
    )
    latency = _chart(
        "Latency vs throughput",
        "throughput (infer/s)",
        "latency (ms)",
        _latency_series(record, steps),
        _slo_bounds(record.slo),
    )
    gpu = _gpu_chart(steps)
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
        f'<div class="charts">{throughput}{latency}{gpu}</div>{_breakdown(steps)}'
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
    series: list[Series] = []
    for entry in top:
        measurement = entry.trial.measurement
        assert measurement is not None
        steps = sorted(measurement.steps, key=lambda s: s.throughput)
        name = describe_point(entry.trial.point) + (" (committed)" if entry.committed else "")
        series.append(Series(name, [(s.throughput, s.p99_ms) for s in steps]))
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


def _summary(entries: Sequence[TestEntry]) -> str:
    """Counts, then every test that did not pass and every regression, each linked."""
    tally = f"<p>{len(entries)} Triton test(s): {html.escape(counts(list(entries)))}</p>"
    items = []
    for i, entry in enumerate(entries):
        regressions = [
            f"{row.name} {pct(row)}"
            for r in entry.results
            for row in r.baseline_rows
            if row.outcome is Outcome.REGRESSION
        ]
        if entry.outcome == "passed" and not regressions:
            continue
        what = entry.why or entry.outcome
        moved = f": regressed {', '.join(regressions)}" if regressions else ""
        items.append(
            f'<li class="fail"><a href="#{_anchor(i)}">{html.escape(entry.nodeid)}</a> '
            f"{html.escape(what + moved)}</li>"
        )
    listed = f'<ul class="summary">{"".join(items)}</ul>' if items else ""
    return f'<div id="summary">{tally}{listed}</div>'


def render_html(entries: Sequence[TestEntry], server: ServerIdentity | None) -> str:
    where = ""
    if server:
        # the binary's name, not its path: a report is shared beyond the machine it ran on
        source = Path(server.source).name if server.kind == "local" else server.source
        where = (
            f"<p>Triton {html.escape(server.version)} ({html.escape(server.kind)}: "
            f"<code>{html.escape(source)}</code>)</p>"
        )
    body = _summary(entries) + "".join(_entry(i, e) for i, e in enumerate(entries))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>pytest-triton report</title>"
        f"<style>{_STYLE}</style></head><body><h1>Triton performance report</h1>{where}{body}"
        "</body></html>\n"
    )
