"""The figures only some models have, as table rows for the Markdown and HTML reports: a
decoupled model's token stream, and the models an ensemble or BLS model ran."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_triton.result import StepResult

STREAM_HEADER = ("load", "TTFT p50 ms", "TTFT p99 ms", "ITL p50 ms", "ITL p99 ms", "tokens/s",
                 "tokens/request")  # fmt: skip
COMPOSING_HEADER = ("load", "model", "queue µs", "compute µs", "requests")


def stream_rows(steps: Sequence[StepResult]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for s in steps:
        if s.stream is None:
            continue
        t = s.stream
        out.append(
            (
                s.load_point,
                f"{t.ttft_p50_ms:.2f}",
                f"{t.ttft_p99_ms:.2f}",
                f"{t.itl_p50_ms:.2f}",
                f"{t.itl_p99_ms:.2f}",
                f"{t.output_tokens_per_s:.1f}",
                f"{t.tokens_per_request:.1f}",
            )
        )
    return out


def composing_rows(steps: Sequence[StepResult]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for s in steps:
        for name, part in s.composing.items():
            compute = part.compute_input_us + part.compute_infer_us + part.compute_output_us
            out.append(
                (s.load_point, name, f"{part.queue_us:.0f}", f"{compute:.0f}", str(part.requests))
            )
    return out
