"""Markdown for CI: a pull-request comment or $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_triton.outcome import JudgedResult
from pytest_triton.server.base import ServerIdentity


def render_markdown(results: Sequence[JudgedResult], server: ServerIdentity | None) -> str:
    failed = sum(not r.passed for r in results)
    head = "## Triton performance gate"
    lines = [head, ""]
    if server:
        lines.append(f"Triton {server.version} ({server.kind}: `{server.source}`)")
        lines.append("")
    verdict = "all passed" if not failed else f"**{failed} failed**"
    lines.append(f"{len(results)} measurement(s), {verdict}.")
    lines.append("")
    lines.append(
        "| test | model | load | infer/s | p50 ms | p99 ms | queue µs | compute µs | result |"
    )
    lines.append("|---|---|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        m = r.recorded.measurement
        status = "✅ pass" if r.passed else "❌ FAIL"
        for i, s in enumerate(m.steps):
            split = s.server
            compute = split.compute_input_us + split.compute_infer_us + split.compute_output_us
            flags = [
                f for f, on in (("unstable", not s.stable), ("client-bound", s.client_bound)) if on
            ]
            lines.append(
                f"| {'`' + r.nodeid + '`' if i == 0 else ''} | {m.model if i == 0 else ''} "
                f"| {s.load_point}{' (' + ', '.join(flags) + ')' if flags else ''} "
                f"| {s.throughput:.1f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} | {split.queue_us:.0f} "
                f"| {compute:.0f} | {status if i == 0 else ''} |"
            )
    for r in results:
        if r.failures or r.notes:
            lines += ["", f"### `{r.nodeid}`", ""]
            lines += ["```", *r.failures, "```"] if r.failures else []
            lines += [f"- {note}" for note in r.notes]
    return "\n".join(lines) + "\n"
