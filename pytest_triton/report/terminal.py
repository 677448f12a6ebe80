"""The terminal summary at session end: one block per Triton test, headed by pytest's outcome."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_triton.report.outcome import TestEntry, counts

NO_BASELINE = "no baseline for "


def summary_lines(entries: Sequence[TestEntry]) -> list[str]:
    lines: list[str] = [f"{len(entries)} Triton test(s): {counts(list(entries))}"]
    for entry in entries:
        models = ", ".join(dict.fromkeys(r.measurement.model for r in entry.results))
        head = f"{entry.nodeid}  [{models}]" if models else entry.nodeid
        lines.append(f"{head}  {entry.outcome.upper()}{_why(entry)}")
        if not entry.results and entry.reason:
            lines.append(f"  {entry.reason.strip().splitlines()[-1]}")
        for record in entry.results:
            m = record.measurement
            streams = any(s.stream is not None for s in m.steps)
            tokens_head = (
                f" {'TTFT p50':>8} {'TTFT p99':>8} {'ITL p50':>8} {'tokens/s':>9}"
                if streams
                else ""
            )
            lines.append(
                f"  {'load':<6} {'infer/s':>10} {'p50 ms':>8} {'p99 ms':>8}{tokens_head} "
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
                if s.timeouts:
                    notes.append(f"{s.timeouts} unanswered")
                split = s.server
                compute = split.compute_input_us + split.compute_infer_us + split.compute_output_us
                tokens = ""
                if s.stream is not None:
                    st = s.stream
                    tokens = (
                        f" {st.ttft_p50_ms:>8.2f} {st.ttft_p99_ms:>8.2f} {st.itl_p50_ms:>8.2f} "
                        f"{st.output_tokens_per_s:>9.1f}"
                    )
                elif streams:
                    tokens = f" {'-':>8} {'-':>8} {'-':>8} {'-':>9}"
                lines.append(
                    f"  {s.load_point:<6} {s.throughput:>10.1f} {s.p50_ms:>8.2f} "
                    f"{s.p99_ms:>8.2f}{tokens} {split.queue_us:>9.0f} {compute:>10.0f}  "
                    f"{', '.join(notes)}"
                )
                for name, part in s.composing.items():  # an ensemble's or BLS model's steps
                    used = part.compute_input_us + part.compute_infer_us + part.compute_output_us
                    lines.append(f"    {name}: queue {part.queue_us:.0f} us, compute {used:.0f} us")
            if m.capacity is not None:
                bound = " (a lower bound: the SLO held at every step)"
                lines.append(
                    f"  capacity at SLO: {m.capacity:.1f} infer/s"
                    f"{bound if m.capacity_is_lower_bound else ''}"
                )
            if record.search is not None:
                from pytest_triton.search.table import render

                lines.append(f"  search of {m.model!r}, best first (its winner's steps above):")
                lines.extend(f"  {line}" for line in render(record.search))
            # "no baseline" is the baselines section's to say, once per test
            lines.extend(
                f"  note: {note}" for note in record.notes if not note.startswith(NO_BASELINE)
            )
    return lines


def _why(entry: TestEntry) -> str:
    return f": {entry.why}" if entry.outcome == "failed" else ""
