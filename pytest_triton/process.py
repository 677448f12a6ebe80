"""Child processes that cannot outlive pytest: Linux's PR_SET_PDEATHSIG, in one place.

Every process we start (the server, the load generators, perf_analyzer) asks the kernel to
SIGKILL it when its parent dies, so a SIGKILLed pytest leaves nothing running. SIGKILL, not a
catchable signal: a child that is hung or ignores signals must still go.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Call in the child (between fork and exec, or first thing): SIGKILL it when its parent
    dies. Best effort: off Linux it does nothing, and the callers' other ends (a closed pipe,
    the server's stop) still apply."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
