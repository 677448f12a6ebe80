"""How a worker keeps load on Triton during a step: its connections, and the two ways to send.

Closed loop keeps a number of requests outstanding; open loop sends on a schedule of arrival
times, however long the answers take.
"""

from __future__ import annotations

import math
import select
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

from .schedule import send_times
from .sequences import Sequences
from .windows import WindowAccumulator

if TYPE_CHECKING:
    from .worker import StepCommand

_READ = select.EPOLLIN
_READ_WRITE = select.EPOLLIN | select.EPOLLOUT


class Conn(Protocol):
    """A transport connection (h2grpc.H2Connection, http1.Http1Connection)."""

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


class Connections:
    """A step's connections, each registered with its epoll, and watched for writing only while
    it has bytes it could not write yet."""

    def __init__(self, ep: select.epoll, connect: Callable[[], Conn], per_connection: int):
        self._ep = ep
        self._connect = connect
        self.per_connection = per_connection  # requests one connection carries at once
        self.all: list[Conn] = []
        self._by_fd: dict[int, Conn] = {}
        self._writing: set[int] = set()

    def add(self) -> Conn:
        conn = self._connect()
        self.all.append(conn)
        self._by_fd[conn.fileno()] = conn
        self._ep.register(conn.fileno(), _READ)
        return conn

    def flush(self) -> None:
        for conn in self.all:
            if conn.wants_write:
                conn.flush()
                fd = conn.fileno()
                if conn.wants_write and fd not in self._writing:
                    self._ep.modify(fd, _READ_WRITE)
                    self._writing.add(fd)
                elif not conn.wants_write and fd in self._writing:
                    self._ep.modify(fd, _READ)
                    self._writing.discard(fd)

    def ready(self, fd: int, events: int, done: list[tuple[int, str | None]]) -> None:
        """Serve an epoll event of a connection, adding the requests it answered to `done`."""
        conn = self._by_fd[fd]
        if events & select.EPOLLOUT:
            conn.flush()
        if events & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP):
            conn.on_readable(done)

    def close(self) -> None:
        for conn in self.all:
            conn.close()
        self.all = []


class Sends:
    """Sends the pre-built requests round robin, remembering when each request in flight left.

    `responses` (streaming): token -> arrival times of its responses, filled by the transport.
    """

    def __init__(
        self,
        messages: Iterator[bytes],
        window: WindowAccumulator,
        responses: dict[int, list[int]] | None = None,
    ):
        self._messages = messages
        self._window = window
        self._responses = responses
        self.started: dict[int, int] = {}  # token -> when it was sent (or due, open loop)

    def send(self, conn: Conn, token: int, at: int, sequences: Sequences | None = None) -> None:
        self.started[token] = at
        message = next(self._messages)
        if sequences is not None:
            message = sequences.request(token, message[5:])  # the slot's next in its sequence
        conn.send(token, message)
        self._window.sent += 1

    def answered(self, done: list[tuple[int, str | None]], now: int) -> None:
        responses = self._responses
        if responses is None:
            for token, error in done:
                self._window.answered(now, self.started.pop(token), error)
            return
        for token, error in done:
            self._window.answered(now, self.started.pop(token), error, responses.pop(token, None))


class ClosedLoop:
    """`slots` requests outstanding: each answer sends its slot's next request at once, on the
    slot's own connection. With `sequences`, each slot sends sequences (sequences.py), and
    once stopped still finishes the one it is in."""

    next_send = math.inf  # never on a schedule

    def __init__(
        self, slots: int, conns: Connections, sends: Sends, sequences: Sequences | None = None
    ):
        self._sends = sends
        self._sequences = sequences
        self._stopped = False
        self._slot_conn: list[Conn] = []
        for i in range(slots):
            if i % conns.per_connection == 0:
                conns.add()
            self._slot_conn.append(conns.all[-1])

    def start(self, now: int) -> None:
        for token, conn in enumerate(self._slot_conn):
            self._sends.send(conn, token, now, self._sequences)

    def send_due(self, now: int) -> None:
        return

    def answered(self, done: list[tuple[int, str | None]], now: int) -> None:
        sequences = self._sequences
        for token, _ in done:
            if self._stopped and (sequences is None or not sequences.open(token)):
                continue
            self._sends.send(self._slot_conn[token], token, now, sequences)

    def stop(self) -> None:
        self._stopped = True


class OpenLoop:
    """Requests at the arrival times of a schedule (constant or Poisson), each timed from when it
    was due, so a server that falls behind shows as latency, not as a lower offered rate."""

    def __init__(
        self,
        cmd: StepCommand,
        conns: Connections,
        sends: Sends,
        window: WindowAccumulator,
        reuse_when_idle: bool,
    ):
        schedule = send_times(cmd.value, cmd.distribution, cmd.start_ns, cmd.seed)
        self._schedule: Iterator[int] | None = schedule
        self.next_send: float = next(schedule)
        self._max_outstanding = cmd.max_outstanding
        self._conns = conns
        self._sends = sends
        self._window = window
        # HTTP/1.1 carries one request per connection: a connection is reused once idle
        self._reuse_when_idle = reuse_when_idle
        self._idle: list[Conn] = [conns.add()]
        self._held = False  # the last sends were held back by max_outstanding
        self._next_token = 0

    def start(self, now: int) -> None:
        return  # the first send is due at the schedule's start

    def send_due(self, now: int) -> None:
        if self._schedule is None:
            return
        started = self._sends.started
        while self.next_send <= now and len(started) < self._max_outstanding:
            token = self._next_token
            self._next_token += 1
            due = int(self.next_send)
            # Sends held back by max_outstanding are late because of the server, not the
            # client: their lag does not count towards client-bound detection.
            if now >= self._window.measure_start and not self._held:
                self._window.lags.append(now - due)
            self._sends.send(self._free(), token, due)
            self.next_send = next(self._schedule)
        self._held = self.next_send <= now

    def answered(self, done: list[tuple[int, str | None]], now: int) -> None:
        if self._reuse_when_idle:
            self._idle = [c for c in self._conns.all if c.in_flight == 0]

    def stop(self) -> None:
        self._schedule, self.next_send = None, math.inf

    def _free(self) -> Conn:
        """A connection with room for one more request, opening one if none has."""
        if self._reuse_when_idle:
            return self._idle.pop() if self._idle else self._conns.add()
        for conn in self._conns.all:
            if conn.in_flight < min(conn.max_streams, self._conns.per_connection):
                return conn
        return self._conns.add()
