"""The native load loop: one process, one thread, non-blocking sockets, epoll.

It runs in a child process (see driver.py) so the parent can take server statistics and
metrics snapshots at window boundaries without sharing a GIL with the hot loop, and so several
loops can run side by side when one is not enough. The parent sends commands over a pipe; the
loop reports one record per window. This module imports only the standard library and our
transports: a spawned child starts in a fraction of a second.
"""

from __future__ import annotations

import math
import select
import time
import traceback
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Protocol

from pytest_triton.process import die_with_parent

from .h2grpc import ConnectionLost, H2Connection
from .http1 import Http1Connection
from .schedule import send_times

_READ = select.EPOLLIN
_READ_WRITE = select.EPOLLIN | select.EPOLLOUT
# An open-loop send later than this (or than one gap between sends, if longer) counts as late:
# epoll wakes with millisecond granularity, so smaller lags are timer noise, not a slow client.
LATE_NS = 2_000_000
# A stopped step waits for the requests it has in flight before closing their connections,
# until each is answered or has waited the request timeout. Closing a gRPC stream with a request
# in flight is a cancellation, and Triton up to 2.52 (24.11) can crash on one ("Signal (11)
# received", server issues #7368 and #8034, fixed in 24.12): with the wheel's 2.51, step ends
# followed by model loads crashed it once in 75 cycles without this wait, none in 270 with it
# (docs/measurement.md). A healthy step pays one request's latency; the requests still
# unanswered at their timeout are counted, so a model that stopped answering fails its test.


class _Conn(Protocol):
    max_streams: int

    @property
    def in_flight(self) -> int: ...
    @property
    def wants_write(self) -> bool: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...
    def send(self, token: int, message: bytes) -> None: ...
    def flush(self) -> None: ...
    def on_readable(self, done: list[tuple[int, str | None]]) -> None: ...


@dataclass(frozen=True)
class WorkerConfig:
    host: str
    port: int
    protocol: str  # "grpc" (HTTP/2) or "http" (HTTP/1.1)
    messages: tuple[bytes, ...]  # pre-built requests, sent round robin
    streams_per_connection: int = 16


@dataclass(frozen=True)
class StepCommand:
    mode: str  # "concurrency" or "rate"
    value: float  # outstanding requests, or requests/s, for this worker
    start_ns: int  # monotonic clock: warm-up starts here (shared by all workers of a step)
    warmup_ns: int
    window_ns: int
    window_requests: int | None = None  # count windows: completions per window (this worker)
    distribution: str = "constant"
    seed: int = 0
    max_outstanding: int = 1024
    request_timeout_ns: int = 30_000_000_000


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
    late: int = 0  # open loop: sends later than LATE_NS
    in_flight: int = 0


class Stalled(Exception):
    """Requests are in flight and nothing came back for request_timeout."""


def worker_main(control: Connection, config: WorkerConfig) -> None:
    """Child process entry point: run steps until told to exit."""
    loop = LoadLoop(config)
    try:
        while True:
            msg = control.recv()
            if msg[0] == "exit":
                return
            if msg[0] != "step":
                continue
            try:
                unanswered = loop.run_step(msg[1], control)
                control.send(("stopped", unanswered))
            except (ConnectionLost, Stalled, OSError) as exc:
                loop.reset()
                control.send(("fatal", str(exc) or type(exc).__name__))
            except Exception:  # a bug of ours: report it rather than die silently
                loop.reset()
                control.send(("fatal", traceback.format_exc()))
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        return  # parent gone or interrupted: nothing to report to
    finally:
        loop.reset()


class LoadLoop:
    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.conns: list[_Conn] = []
        self._msg_index = 0

    def reset(self) -> None:
        for c in self.conns:
            c.close()
        self.conns = []

    def _connect(self) -> _Conn:
        cfg = self.config
        conn: _Conn
        if cfg.protocol == "grpc":
            conn = H2Connection(cfg.host, cfg.port)
        else:
            conn = Http1Connection(cfg.host, cfg.port)
        self.conns.append(conn)
        return conn

    def _per_conn(self, conn: _Conn) -> int:
        return min(conn.max_streams, self.config.streams_per_connection)

    def run_step(self, cmd: StepCommand, control: Connection) -> int:
        """Load until told to stop, reporting a record per window; then let the requests in
        flight finish, each within the request timeout of its send, and return how many did
        not."""
        # Fresh connections per step: a previous step's stragglers cannot leak into this one.
        self.reset()
        messages = self.config.messages
        n_messages = len(messages)
        ep = select.epoll()
        control_fd = control.fileno()
        ep.register(control_fd, _READ)
        by_fd: dict[int, _Conn] = {}
        writing: set[int] = set()

        def add_conn() -> _Conn:
            conn = self._connect()
            by_fd[conn.fileno()] = conn
            ep.register(conn.fileno(), _READ)
            return conn

        closed_loop = cmd.mode == "concurrency"
        slots = int(cmd.value) if closed_loop else 0
        # closed loop: token -> connection it lives on (a slot always reuses its connection)
        slot_conn: list[_Conn] = []
        if closed_loop:
            per = self.config.streams_per_connection if self.config.protocol == "grpc" else 1
            for i in range(slots):
                if i % per == 0:
                    add_conn()
                slot_conn.append(self.conns[-1])
        started: dict[int, int] = {}
        schedule: Iterator[int] | None = None
        next_send = math.inf
        if not closed_loop:
            schedule = send_times(cmd.value, cmd.distribution, cmd.start_ns, cmd.seed)
            next_send = next(schedule)
            add_conn()
        free_http: list[_Conn] = list(self.conns) if not closed_loop else []
        held = False  # open loop: the last sends were held back by max_outstanding
        next_token = 0

        now = time.monotonic_ns()
        measure_start = cmd.start_ns + cmd.warmup_ns
        window_start = measure_start
        window_end = measure_start + cmd.window_ns
        count_limit = cmd.window_requests
        index = 0
        lat = array("q")
        errors = 0
        samples: list[str] = []
        sent = 0
        lags: list[int] = []
        cpu0 = time.process_time()
        last_progress = now
        mono = time.monotonic_ns

        def send(conn: _Conn, token: int, t: int) -> None:
            nonlocal sent
            started[token] = t
            conn.send(token, messages[self._msg_index % n_messages])
            self._msg_index += 1
            sent += 1

        if closed_loop:
            t = mono()
            for token in range(slots):
                send(slot_conn[token], token, t)
        drain_until: int | None = None  # set by "stop": nothing is sent any more
        while True:
            # -- open loop: send what is due --------------------------------------------------
            if schedule is not None:
                now = mono()
                while next_send <= now and len(started) < cmd.max_outstanding:
                    conn = self._free_conn(free_http, add_conn)
                    token = next_token
                    next_token += 1
                    # Sends held back by max_outstanding are late because of the server, not
                    # the client: their lag does not count towards client-bound detection.
                    if now >= measure_start and not held:
                        lags.append(now - int(next_send))
                    send(conn, token, int(next_send))  # timed from the schedule, not from now
                    next_send = next(schedule)
                held = next_send <= now
            for conn in self.conns:
                if conn.wants_write:
                    conn.flush()
                    fd = conn.fileno()
                    if conn.wants_write and fd not in writing:
                        ep.modify(fd, _READ_WRITE)
                        writing.add(fd)
                    elif not conn.wants_write and fd in writing:
                        ep.modify(fd, _READ)
                        writing.discard(fd)
            # -- wait -------------------------------------------------------------------------
            now = mono()
            deadline = window_end if count_limit is None else now + 100_000_000
            if drain_until is not None:
                deadline = drain_until
            if next_send < deadline:
                deadline = int(next_send)
            timeout = max(0.0, (deadline - now) / 1e9)
            events = ep.poll(timeout)
            now = mono()
            done: list[tuple[int, str | None]] = []
            for fd, ev in events:
                if fd == control_fd:
                    msg = control.recv()
                    if msg[0] in ("stop", "exit") and drain_until is None:
                        newest = max(started.values(), default=now)
                        drain_until = newest + cmd.request_timeout_ns
                        schedule, next_send = None, math.inf
                    continue
                conn = by_fd[fd]
                if ev & select.EPOLLOUT:
                    conn.flush()
                if ev & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP):
                    conn.on_readable(done)
            if done:
                last_progress = now
                t_send = mono()
                for token, error in done:
                    t0 = started.pop(token)
                    if error is None:
                        if now >= measure_start:
                            lat.append(now - t0)
                    else:
                        # A failure counts even in the warm-up (it lands in the first window):
                        # a stub that crashes as the step starts must not go unseen.
                        errors += 1
                        if len(samples) < 3 and error not in samples:
                            samples.append(error)
                    if closed_loop and drain_until is None:
                        send(slot_conn[token], token, t_send)
                    elif self.config.protocol == "http":
                        # the connection that answered is free again
                        pass
                if not closed_loop and self.config.protocol == "http":
                    free_http[:] = [c for c in self.conns if c.in_flight == 0]
            elif drain_until is None and started and now - last_progress > cmd.request_timeout_ns:
                raise Stalled(
                    f"{len(started)} request(s) in flight and no response from Triton for "
                    f"{cmd.request_timeout_ns / 1e9:g} s"
                )
            if drain_until is not None:
                if started and now < drain_until:
                    continue  # no more windows: the parent dropped them when it said stop
                ep.close()
                self.reset()
                return len(started)
            # -- window boundary --------------------------------------------------------------
            if now < measure_start:
                window_start, window_end = measure_start, measure_start + cmd.window_ns
                continue
            boundary = (
                now >= window_end
                if count_limit is None
                else len(lat) + errors >= count_limit or now - window_start >= cmd.window_ns
            )
            if boundary:
                end = window_end if count_limit is None else now
                cpu1 = time.process_time()
                record = WindowRecord(
                    index=index,
                    start_ns=window_start,
                    end_ns=end,
                    latencies=lat,
                    errors=errors,
                    error_samples=samples,
                    sent=sent,
                    cpu_s=cpu1 - cpu0,
                    in_flight=len(started),
                )
                if lags:
                    lags.sort()
                    record.lag_p99_ns = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
                    record.lag_max_ns = lags[-1]
                    late_ns = max(LATE_NS, int(1e9 / cmd.value)) if not closed_loop else LATE_NS
                    record.late = sum(1 for v in lags if v > late_ns)
                control.send(("window", record))
                index += 1
                cpu0 = cpu1
                lat = array("q")
                errors, samples, sent, lags = 0, [], 0, []
                window_start = end
                window_end = end + cmd.window_ns

    def _free_conn(self, free_http: list[_Conn], add_conn: object) -> _Conn:
        """A connection with room for one more request (open loop), opening one if needed."""
        assert callable(add_conn)
        if self.config.protocol == "http":
            if free_http:
                return free_http.pop()
            conn: _Conn = add_conn()
            return conn
        for conn in self.conns:
            if conn.in_flight < self._per_conn(conn):
                return conn
        conn = add_conn()
        return conn


def run_child(argv: list[str]) -> None:
    """`python -m pytest_triton.load.worker FD`: serve the parent on the socket FD."""
    from multiprocessing.connection import Connection as _Connection

    die_with_parent()
    control = _Connection(int(argv[1]))
    try:
        config = control.recv()
    except EOFError:
        return
    worker_main(control, config)


if __name__ == "__main__":
    import sys

    # Run from the module imported under its real name, so the records we pickle are
    # pytest_triton.load.worker.WindowRecord, not __main__.WindowRecord.
    from pytest_triton.load import worker as _worker

    _worker.run_child(sys.argv)
