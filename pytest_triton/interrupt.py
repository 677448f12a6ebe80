"""Graceful Ctrl-C for long measuring sessions (Model Analyzer's behaviour, one press shorter).

First Ctrl-C: finish the step being measured, save, stop. Minutes of measurement are not thrown
away because someone wanted the session to end. Second Ctrl-C: stop now (KeyboardInterrupt);
whoever catches it saves what was measured on the way out.

Only the main thread can own a signal handler; elsewhere (xdist workers run tests in the main
thread, but embedders may not) `install` does nothing and Ctrl-C keeps Python's default.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any


class GracefulInterrupt:
    def __init__(self, announce: Callable[[str], None] = lambda message: None) -> None:
        self._announce = announce
        self.presses = 0
        self._previous: Any = None
        self._installed = False

    @property
    def requested(self) -> bool:
        """A stop was asked for: stop after the current step / test."""
        return self.presses > 0

    def install(self) -> bool:
        if self._installed or threading.current_thread() is not threading.main_thread():
            return self._installed
        self._previous = signal.signal(signal.SIGINT, self._handle)
        self._installed = True
        return True

    def uninstall(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.presses += 1
        if self.presses == 1:
            self._announce(
                "pytest-triton: Ctrl-C: finishing the current step, then saving and stopping "
                "(press Ctrl-C again to stop now)"
            )
            return
        self.uninstall()  # a third press gets Python's default behaviour
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt when a stop was requested: call it between steps."""
        if self.requested:
            raise KeyboardInterrupt
