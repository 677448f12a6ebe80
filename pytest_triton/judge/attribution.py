"""Where a latency change happened: queue, compute, server overhead or the client side."""

from __future__ import annotations

from pytest_triton.judge.table import signed
from pytest_triton.result import StepResult


def attribution(base: StepResult, cur: StepResult) -> str:
    """Which part of a request's latency moved, from the server's statistics split."""
    total_us = (cur.avg_ms - base.avg_ms) * 1000.0
    head = f"{base.load_point} latency {signed(total_us / 1000.0, 'ms')} (avg)"
    if base.server.requests == 0 or cur.server.requests == 0:
        return f"{head}; the server split is unavailable (statistics extension off?)"

    def compute(s: StepResult) -> float:
        return s.server.compute_input_us + s.server.compute_infer_us + s.server.compute_output_us

    parts = {
        "queue": (base.server.queue_us, cur.server.queue_us),
        "compute": (compute(base), compute(cur)),
        "server overhead": (base.server.overhead_us, cur.server.overhead_us),
        "client side": (base.client_overhead_us, cur.client_overhead_us),
    }
    described = []
    for name, (old, new) in parts.items():
        rel = f" ({(new / old - 1.0) * 100.0:+.0f}%)" if old > 0 else ""
        described.append(f"{name} {signed((new - old) / 1000.0, 'ms')}{rel}")
    mover = max(parts, key=lambda k: abs(parts[k][1] - parts[k][0]))
    moved_us = parts[mover][1] - parts[mover][0]
    share = ""
    if abs(total_us) > 0 and moved_us * total_us > 0:
        share = f", {min(abs(moved_us / total_us), 1.0) * 100.0:.0f}% of the change"
    return f"{head}: " + ", ".join(described) + f" -> mostly {mover}{share}"
