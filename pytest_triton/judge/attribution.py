"""Where a latency change happened: queue, compute, server overhead or the client side, and
for an ensemble or BLS model, in which of the models it ran."""

from __future__ import annotations

from pytest_triton.judge.table import signed
from pytest_triton.result import ServerSplit, StepResult


def attribution(base: StepResult, cur: StepResult) -> str:
    """Which part of a request's latency moved, from the server's statistics split."""
    total_us = (cur.avg_ms - base.avg_ms) * 1000.0
    head = f"{base.load_point} latency {signed(total_us / 1000.0, 'ms')} (avg)"
    if base.server.requests == 0 or cur.server.requests == 0:
        return f"{head}; the server split is unavailable (statistics extension off?)"

    parts = {
        "queue": (base.server.queue_us, cur.server.queue_us),
        "compute": (_compute(base.server), _compute(cur.server)),
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
    return f"{head}: " + ", ".join(described) + f" -> mostly {mover}{share}" + _composing(base, cur)


def _compute(split: ServerSplit) -> float:
    return split.compute_input_us + split.compute_infer_us + split.compute_output_us


def _composing(base: StepResult, cur: StepResult) -> str:
    """The composing model whose queue or compute moved most ('; compute in preprocess +0.21
    ms (+21%)'), '' when the step ran no other model."""
    moves: list[tuple[float, str]] = []
    for name in sorted(set(base.composing) & set(cur.composing)):
        old, new = base.composing[name], cur.composing[name]
        for part, before, after in (
            ("compute", _compute(old), _compute(new)),
            ("queue", old.queue_us, new.queue_us),
        ):
            rel = f" ({(after / before - 1.0) * 100.0:+.0f}%)" if before > 0 else ""
            moves.append(
                (after - before, f"{part} in {name} {signed((after - before) / 1000.0, 'ms')}{rel}")
            )
    if not moves:
        return ""
    return "; of the models it ran, most: " + max(moves, key=lambda m: abs(m[0]))[1]
