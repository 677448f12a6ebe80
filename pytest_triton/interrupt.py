"""Stopping when asked: Ctrl-C and SIGTERM end a session promptly and lose nothing measured.

First Ctrl-C: while a measurement step runs, finish that step (minutes of measurement are not
thrown away because someone wanted the session to end), save and stop; anywhere else (a plain
test, a model load, a server start) stop now. Second Ctrl-C: stop now. SIGTERM, what CI runners
send on cancel, takes the first press's path with a deadline, then stops now. Stopping is a
KeyboardInterrupt: pytest tears the session down (the server included) and exits 2, and whoever
catches it on the way out saves what was measured.

Only the main thread can own a signal handler; elsewhere `install` does nothing and the
signals keep their previous behaviour.
"""

from __future__ import annotations

import _thread
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

# How long a SIGTERM waits for the step being measured before stopping now (CI runners follow
# SIGTERM with SIGKILL after a grace period of their own, often about 10 s).
TERM_DEADLINE_S = 8.0

_steps_in_progress = 0
_active: GracefulInterrupt | None = None


@contextmanager
def measuring() -> Iterator[None]:
    """Within it, a first Ctrl-C waits for the end of the step being measured."""
    global _steps_in_progress
    _steps_in_progress += 1
    try:
        yield
    finally:
        _steps_in_progress -= 1


def stop_point() -> None:
    """Call between measurement steps: raises KeyboardInterrupt once a stop was asked for."""
    if _active is not None:
        _active.check()


class GracefulInterrupt:
    def __init__(self, announce: Callable[[str], None] = lambda message: None) -> None:
        self._announce = announce
        self.presses = 0
        self._previous: dict[int, Any] = {}
        self._deadline: threading.Timer | None = None

    @property
    def requested(self) -> bool:
        """A stop was asked for: stop after the current step."""
        return self.presses > 0

    def install(self) -> bool:
        global _active
        if self._previous or threading.current_thread() is not threading.main_thread():
            return bool(self._previous)
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        _active = self
        return True

    def uninstall(self) -> None:
        global _active
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}
        if _active is self:
            _active = None
        if self._deadline is not None:
            self._deadline.cancel()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.presses += 1
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        if self.presses == 1 and _steps_in_progress:
            if signum != signal.SIGINT:
                # interrupt_main() runs the SIGINT handler: the second press, stop now
                self._deadline = threading.Timer(TERM_DEADLINE_S, _thread.interrupt_main)
                self._deadline.daemon = True
                self._deadline.start()
            self._announce(
                f"pytest-triton: {name}: finishing the current step, then saving and stopping "
                + ("(press Ctrl-C again to stop now)" if signum == signal.SIGINT else
                   f"(at most {TERM_DEADLINE_S:g} s)")
            )  # fmt: skip
            return
        self._announce(f"pytest-triton: {name}: stopping now")
        self.uninstall()  # a further press gets the previous behaviour
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt when a stop was requested: call it between steps."""
        if self.requested:
            raise KeyboardInterrupt
