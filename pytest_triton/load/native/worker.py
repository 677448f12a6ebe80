"""The native load loop: one process, one thread, non-blocking sockets, epoll.

It runs in a child process (see driver.py) so the parent can take server statistics and
metrics snapshots at window boundaries without sharing a GIL with the hot loop, and so several
loops can run side by side when one is not enough. The parent sends commands over a pipe; the
loop reports one record per window. This module imports only the standard library and our
transports: a spawned child starts in a fraction of a second.
"""

from __future__ import annotations

import itertools
import select
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection

from pytest_triton.process import die_with_parent

from .h2grpc import ConnectionLost, H2Connection
from .http1 import Http1Connection
from .senders import ClosedLoop, Conn, Connections, OpenLoop, Sends
from .sequences import Sequences
from .windows import WindowAccumulator

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


@dataclass(frozen=True)
class WorkerConfig:
    host: str
    port: int
    protocol: str  # "grpc" (HTTP/2) or "http" (HTTP/1.1)
    messages: tuple[bytes, ...]  # pre-built requests, sent round robin
    streams_per_connection: int = 16
    # gRPC only: each request its own ModelStreamInfer call, responses timed (decoupled models)
    streaming: bool = False
    # gRPC only: requests per sequence of a sequence-batched model (sequences.py); 0: none
    sequence_length: int = 0
    sequence_length_variation: float = 0.0  # percent either side


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
    first_sequence_id: int = 1  # sequence models: this worker's ids, for this step, start here


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
        # round robin over the pre-built requests, carried on from one step to the next
        self._messages = itertools.cycle(config.messages)
        self._conns: Connections | None = None
        # streaming: token -> arrival times of its responses (h2grpc fills, Sends reads)
        self._responses: dict[int, list[int]] | None = {} if config.streaming else None

    def reset(self) -> None:
        if self._conns is not None:
            self._conns.close()
            self._conns = None

    def _connect(self) -> Conn:
        cfg = self.config
        if cfg.protocol == "grpc":
            return H2Connection(cfg.host, cfg.port, responses=self._responses)
        return Http1Connection(cfg.host, cfg.port)

    def run_step(self, cmd: StepCommand, control: Connection) -> int:
        """Load until told to stop, reporting a record per window; then let the requests in
        flight finish, each within the request timeout of its send, and return how many did
        not."""
        # Fresh connections per step: a previous step's stragglers cannot leak into this one.
        self.reset()
        ep = select.epoll()
        try:
            return self._run(cmd, control, ep)
        finally:
            ep.close()
            self.reset()

    def _run(self, cmd: StepCommand, control: Connection, ep: select.epoll) -> int:
        grpc = self.config.protocol == "grpc"
        conns = self._conns = Connections(
            ep, self._connect, self.config.streams_per_connection if grpc else 1
        )
        closed_loop = cmd.mode == "concurrency"
        late_ns = LATE_NS if closed_loop else max(LATE_NS, int(1e9 / cmd.value))
        window = WindowAccumulator(
            cmd.start_ns + cmd.warmup_ns, cmd.window_ns, cmd.window_requests, late_ns
        )
        if self._responses is not None:
            self._responses.clear()  # a previous step's unfinished requests
        sends = Sends(self._messages, window, self._responses)
        sender: ClosedLoop | OpenLoop
        if closed_loop:
            sequences = None
            if self.config.sequence_length:
                sequences = Sequences(
                    self.config.sequence_length,
                    cmd.first_sequence_id,
                    self.config.sequence_length_variation,
                    cmd.seed,
                )
            sender = ClosedLoop(int(cmd.value), conns, sends, sequences)
        else:
            sender = OpenLoop(cmd, conns, sends, window, reuse_when_idle=not grpc)
        control_fd = control.fileno()
        ep.register(control_fd, select.EPOLLIN)
        timeout_ns = cmd.request_timeout_ns
        mono = time.monotonic_ns
        last_progress = mono()
        sender.start(last_progress)
        drain_until: int | None = None  # set by "stop": nothing is sent any more
        while True:
            sender.send_due(mono())
            conns.flush()
            now = mono()
            deadline = window.deadline(now) if drain_until is None else drain_until
            timeout = max(0.0, (min(deadline, sender.next_send) - now) / 1e9)
            events = ep.poll(timeout)
            now = mono()
            done: list[tuple[int, str | None]] = []
            for fd, ev in events:
                if fd != control_fd:
                    conns.ready(fd, ev, done)
                elif control.recv()[0] in ("stop", "exit") and drain_until is None:
                    newest = max(sends.started.values(), default=now)
                    drain_until = newest + timeout_ns
                    sender.stop()
            if done:
                last_progress = now
                sends.answered(done, now)
                sender.answered(done, mono())
            elif drain_until is None and sends.started and now - last_progress > timeout_ns:
                raise Stalled(
                    f"{len(sends.started)} request(s) in flight and no response from Triton "
                    f"for {timeout_ns / 1e9:g} s"
                )
            if drain_until is not None:
                if sends.started and now < drain_until:
                    continue  # no more windows: the parent dropped them when it said stop
                return len(sends.started)
            if window.due(now):
                control.send(("window", window.close(now, in_flight=len(sends.started))))


def run_child(argv: list[str]) -> None:
    """`python -m pytest_triton.load.native.worker FD`: serve the parent on the socket FD."""
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
    # pytest_triton.load.native.worker.WindowRecord, not __main__.WindowRecord.
    from pytest_triton.load.native import worker as _worker

    _worker.run_child(sys.argv)
