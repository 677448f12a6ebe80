"""One live line per finished step, for pytest's terminal (the plugin writes it) or a script.

c8     4123.4 infer/s  p99    2.105 ms  stable
c16    4110.9 infer/s  p99    4.380 ms  UNSTABLE  client-bound
c32    4098.2 infer/s  p99    8.870 ms  probe

and for a decoupled model, its token stream:

c2       23.3 infer/s  p99   86.120 ms  TTFT p50 31.1 ms  ITL p50 10.65 ms  140 tokens/s  stable
"""

from __future__ import annotations

import math

from pytest_triton.result import StepResult


def step_line(step: StepResult, model: str | None = None) -> str:
    p99 = f"{step.p99_ms:8.3f} ms" if math.isfinite(step.p99_ms) else "       - ms"
    state = "probe" if step.probe else "stable" if step.stable else "UNSTABLE"
    flags = []
    if step.client_bound:
        flags.append("client-bound")
    if step.errors:
        flags.append(f"{step.errors} errors")
    head = f"{model} " if model else ""
    tail = ("  " + "  ".join(flags)) if flags else ""
    stream = step.stream
    tokens = (
        f"  TTFT p50 {stream.ttft_p50_ms:.1f} ms  ITL p50 {stream.itl_p50_ms:.2f} ms  "
        f"{stream.output_tokens_per_s:.0f} tokens/s"
        if stream is not None
        else ""
    )
    return (
        f"{head}{step.load_point:<6} {step.throughput:10.1f} infer/s  p99 {p99}{tokens}  "
        f"{state}{tail}"
    )
