"""The terminal summary at session end: one block per measured test."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_triton.outcome import JudgedResult


def summary_lines(results: Sequence[JudgedResult]) -> list[str]:
    lines: list[str] = []
    for judged in results:
        m = judged.recorded.measurement
        slo = judged.slo
        verdict = "no SLO" if slo is None else ("SLO met" if slo.passed else "SLO NOT met")
        if not judged.passed:
            verdict = "FAILED: " + verdict
        lines.append(f"{judged.nodeid}  [{m.model}]  {verdict}")
        lines.append(
            f"  {'load':<6} {'infer/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'queue us':>9} {'compute us':>10}  notes"
        )
        for s in m.steps:
            notes = []
            if not s.stable:
                notes.append("unstable")
            if s.client_bound:
                notes.append("client-bound")
            if s.errors:
                notes.append(f"{s.errors} errors")
            split = s.server
            compute = split.compute_input_us + split.compute_infer_us + split.compute_output_us
            lines.append(
                f"  {s.load_point:<6} {s.throughput:>10.1f} {s.p50_ms:>8.2f} {s.p99_ms:>8.2f} "
                f"{split.queue_us:>9.0f} {compute:>10.0f}  {', '.join(notes)}"
            )
        if m.capacity is not None:
            lines.append(f"  capacity at SLO: {m.capacity:.1f} infer/s")
        lines.extend(f"  note: {note}" for note in judged.notes)
    return lines
