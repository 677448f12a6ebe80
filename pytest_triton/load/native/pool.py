"""Load-loop child processes: start, command, collect window records, stop.

Children are plain `python -m pytest_triton.load.native.worker FD` processes talking over a
socketpair, not multiprocessing.Process: spawn-style multiprocessing re-imports the caller's
__main__, which breaks measure() called from an unguarded script, and fork would copy a pytest
process with gRPC threads. Each child also exits when its pipe closes and dies with its parent
(PR_SET_PDEATHSIG), so no load generator outlives a killed pytest.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from pytest_triton.errors import MeasurementError
from pytest_triton.process import python_child_env

from .windows import WindowRecord
from .worker import StepCommand, WorkerConfig

_POLL_S = 0.2


class WorkerFailed(Exception):
    """A worker reported a fatal error (connection lost, stalled server) or died."""


class Worker:
    def __init__(self, config: WorkerConfig) -> None:
        parent, child = socket.socketpair()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pytest_triton.load.native.worker", str(child.fileno())],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                env=python_child_env(),
            )
        finally:
            child.close()
        self.conn = Connection(parent.detach())
        self.conn.send(config)
        self.busy = False

    def start(self, cmd: StepCommand) -> None:
        self.conn.send(("step", cmd))
        self.busy = True

    def request_stop(self) -> None:
        """Tell the running step to stop sending; it then waits for its requests in flight."""
        if self.busy:
            with contextlib.suppress(OSError):
                self.conn.send(("stop",))

    def await_stop(self, deadline: float) -> int:
        """Wait (until the monotonic `deadline`) for the step's acknowledgement, dropping the
        records in between: how many requests went unanswered (0 when it failed or said
        nothing; the caller checks the server)."""
        unanswered = 0
        if not self.busy:
            return unanswered
        try:
            while time.monotonic() < deadline:
                if self.conn.poll(_POLL_S):
                    msg = self.conn.recv()
                    if msg[0] == "stopped":
                        unanswered = int(msg[1])
                        break
                    if msg[0] == "fatal":
                        break
                elif self.proc.poll() is not None:
                    break
        except (OSError, EOFError):
            pass
        self.busy = False
        return unanswered

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("exit",))
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.conn.close()


class Pool:
    """N workers sharing the load of one step."""

    def __init__(self, config: WorkerConfig) -> None:
        self._config = config
        self.workers: list[Worker] = []

    def resize(self, n: int) -> None:
        while len(self.workers) < n:
            self.workers.append(Worker(self._config))
        while len(self.workers) > n:
            self.workers.pop().close()

    def start(self, commands: list[StepCommand | None]) -> None:
        for worker, cmd in zip(self.workers, commands, strict=True):
            if cmd is not None:
                worker.start(cmd)

    def stop(self, timeout_s: float) -> int:
        """Stop every worker's step at once; `timeout_s` must cover the request timeout, which
        is how long a worker waits for its requests in flight. Returns the requests that went
        unanswered."""
        for worker in self.workers:
            worker.request_stop()
        deadline = time.monotonic() + timeout_s
        return sum(worker.await_stop(deadline) for worker in self.workers)

    def close(self) -> None:
        for worker in self.workers:
            try:
                worker.request_stop()
                worker.await_stop(time.monotonic() + 2.0)
                worker.close()
            except Exception:  # closing must release every worker, whatever one of them does
                worker.proc.kill()
        self.workers = []

    def next_windows(self, timeout_s: float, check: Callable[[], None]) -> list[WindowRecord]:
        """The next window record of every busy worker. `check` runs between polls (liveness);
        it raises to abort. A silent worker past `timeout_s` is an error, so nothing hangs."""
        records: list[WindowRecord] = []
        deadline = time.monotonic() + timeout_s
        for worker in self.workers:
            if not worker.busy:
                continue
            while True:
                if worker.conn.poll(_POLL_S):
                    msg: Any = worker.conn.recv()
                    if msg[0] == "window":
                        records.append(msg[1])
                        break
                    if msg[0] == "fatal":
                        worker.busy = False
                        raise WorkerFailed(str(msg[1]))
                    continue
                if worker.proc.poll() is not None:
                    worker.busy = False
                    raise WorkerFailed(f"load generator process exited ({worker.proc.returncode})")
                check()
                if time.monotonic() > deadline:
                    raise MeasurementError(
                        f"no measurement window arrived within {timeout_s:.0f} s; "
                        "the load generator or the server is stuck"
                    )
        return records
