"""One worker's window of a step: what it saw between two boundaries, sent to the parent."""

from __future__ import annotations

import time
from array import array
from dataclasses import dataclass, field


@dataclass
class WindowRecord:
    index: int
    start_ns: int
    end_ns: int
    latencies: array  # type: ignore[type-arg]  # ns, successful requests completed in the window
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    sent: int = 0
    cpu_s: float = 0.0  # this process's CPU time during the window
    lag_p99_ns: int = 0  # open loop: how late sends left versus their schedule
    lag_max_ns: int = 0
    late: int = 0  # open loop: sends later than late_ns
    in_flight: int = 0
    # Streaming (decoupled models), per successful request of the window: time to its first
    # response, its mean gap between responses (of those with two or more), and the responses.
    ttft: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]  # ns
    itl: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]  # ns
    tokens: int = 0


class WindowAccumulator:
    """Latencies, failures, sends and send lags of the window being measured.

    Windows follow each other from the end of the warm-up: every `window_ns`, or (count
    windows) at `count_limit` completions, or after `window_ns` if those take longer.
    """

    def __init__(
        self, measure_start_ns: int, window_ns: int, count_limit: int | None, late_ns: int
    ):
        self.measure_start = measure_start_ns
        self._window_ns = window_ns
        self._count_limit = count_limit
        self._late_ns = late_ns
        self.start = measure_start_ns
        self.end = measure_start_ns + window_ns
        self._index = 0
        self._cpu0 = time.process_time()
        self._clear()

    def _clear(self) -> None:
        self.latencies = array("q")
        self.ttft = array("q")
        self.itl = array("q")
        self.tokens = 0
        self.errors = 0
        self.samples: list[str] = []
        self.sent = 0
        self.lags: list[int] = []  # open loop: how late each measured send left

    def answered(
        self, now: int, sent_at: int, error: str | None, responses: list[int] | None = None
    ) -> None:
        """A request finished at `now`; `responses`: a streaming request's response times."""
        if error is None:
            if now >= self.measure_start:
                self.latencies.append(now - sent_at)
                if responses:
                    self.tokens += len(responses)
                    self.ttft.append(responses[0] - sent_at)
                    if len(responses) > 1:
                        gaps = len(responses) - 1
                        self.itl.append((responses[-1] - responses[0]) // gaps)
            return
        # A failure counts even in the warm-up (it lands in the first window): a stub that
        # crashes as the step starts must not go unseen.
        self.errors += 1
        if len(self.samples) < 3 and error not in self.samples:
            self.samples.append(error)

    def deadline(self, now: int) -> int:
        """When to look at the boundary again if nothing comes back before."""
        return self.end if self._count_limit is None else now + 100_000_000

    def due(self, now: int) -> bool:
        if now < self.measure_start:
            return False
        if self._count_limit is None:
            return now >= self.end
        done = len(self.latencies) + self.errors
        return done >= self._count_limit or now - self.start >= self._window_ns

    def close(self, now: int, in_flight: int) -> WindowRecord:
        """The window's record; the next window starts where it ends."""
        end = self.end if self._count_limit is None else now
        cpu1 = time.process_time()
        record = WindowRecord(
            index=self._index,
            start_ns=self.start,
            end_ns=end,
            latencies=self.latencies,
            errors=self.errors,
            error_samples=self.samples,
            sent=self.sent,
            cpu_s=cpu1 - self._cpu0,
            in_flight=in_flight,
            ttft=self.ttft,
            itl=self.itl,
            tokens=self.tokens,
        )
        lags = self.lags
        if lags:
            lags.sort()
            record.lag_p99_ns = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
            record.lag_max_ns = lags[-1]
            record.late = sum(1 for v in lags if v > self._late_ns)
        self._index += 1
        self._cpu0 = cpu1
        self._clear()
        self.start, self.end = end, end + self._window_ns
        return record
