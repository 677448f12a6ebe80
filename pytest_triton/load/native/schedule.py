"""Send times of open-loop (request-rate) load: constant spacing or a Poisson process.

Times are absolute nanoseconds on the monotonic clock. The load loop times each request from
its *scheduled* send time, not from when it actually went out, so a server that stalls the
client shows up as latency instead of silently lowering the offered load (coordinated omission).
"""

from __future__ import annotations

import random
from collections.abc import Iterator


def send_times(rate: float, distribution: str, start_ns: int, seed: int = 0) -> Iterator[int]:
    """Endless scheduled send times at `rate` requests/s beginning at `start_ns`.

    Poisson: exponential gaps drawn from a seeded generator, so two runs offer the same load
    pattern. Times are accumulated in float ns and rounded per request, so rounding never
    drifts the long-run rate.
    """
    if rate <= 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    gap_ns = 1e9 / rate
    t = float(start_ns)
    if distribution == "constant":
        while True:
            yield round(t)
            t += gap_ns
    elif distribution == "poisson":
        rng = random.Random(seed)
        while True:
            yield round(t)
            t += rng.expovariate(rate) * 1e9
    else:
        raise ValueError(f"unknown distribution {distribution!r}")
