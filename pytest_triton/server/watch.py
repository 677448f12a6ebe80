"""Waiting on a server's answer while watching the server itself.

A model load (or unload) is one HTTP request that Triton may never answer: the server can die
under it, and a python stub that cannot start can hang it. So the request runs on a thread while
this side polls: the server's death, or a line in its log saying the model failed, ends the wait
within a poll instead of at the request's timeout, quoting what the server said.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from pytest_triton.errors import ModelLoadError, ServerDiedError

from .base import LogFollower, Server

T = TypeVar("T")
POLL_S = 0.2
# A failure line in the log comes a moment before Triton's own answer: give that answer this
# long, since it is the better message, before failing on the log line.
ANSWER_GRACE_S = 2.0


def died(server: Server, doing: str) -> ServerDiedError:
    """The error for a server found dead while `doing` something, with its log tail."""
    return ServerDiedError(f"Triton {server.exit_reason()} while {doing}", server.log_tail())


class ServerWatch:
    def __init__(self, server: Server) -> None:
        self.server = server

    def call(self, request: Callable[[], T], doing: str, failure_marks: Sequence[str] = ()) -> T:
        """`request()`'s result, unless the server dies first (ServerDiedError) or a line of its
        log holding one of `failure_marks` appears and no answer follows (ModelLoadError)."""
        outcome: list[T] = []
        error: list[BaseException] = []

        def run() -> None:
            try:
                outcome.append(request())
            except BaseException as exc:  # handed to the waiting thread, which raises it
                error.append(exc)

        log = LogFollower(self.server.log_path)
        thread = threading.Thread(target=run, name=f"triton: {doing}", daemon=True)
        thread.start()
        failed_at: float | None = None
        failure_lines: list[str] = []
        while True:
            thread.join(POLL_S)
            if not thread.is_alive():
                if error:
                    raise error[0]
                return outcome[0]
            if not self.server.is_alive():
                raise died(self.server, doing)
            if failure_marks and failed_at is None:
                failure_lines = [
                    line for line in log.new_lines() if any(m in line for m in failure_marks)
                ]
                if failure_lines:
                    failed_at = time.monotonic()
            if failed_at is not None and time.monotonic() - failed_at > ANSWER_GRACE_S:
                raise ModelLoadError(
                    f"Triton reported a failure while {doing} and did not answer the request:\n"
                    + "\n".join(failure_lines)
                    + f"\n--- tritonserver log (tail) ---\n{self.server.log_tail()}"
                )
