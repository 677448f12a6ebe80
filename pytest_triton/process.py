"""Child processes that cannot outlive pytest: Linux's PR_SET_PDEATHSIG, in one place.

Every process we start (the server, the load generators, perf_analyzer) asks the kernel to
SIGKILL it when its parent dies, so a SIGKILLed pytest leaves nothing running. SIGKILL, not a
catchable signal: a child that is hung or ignores signals must still go.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def _resolve_prctl() -> Callable[..., int] | None:
    with contextlib.suppress(OSError, AttributeError):
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    return None  # not Linux


# Looked up here, in the parent: between fork and exec (preexec_fn) the child may only call
# it. Looking it up there takes the dynamic loader's lock, which another thread of pytest (a
# server watch, a log follower) may have held at the fork, and the child would wait forever.
_PRCTL = _resolve_prctl()


def die_with_parent() -> None:
    """Call in the child (as preexec_fn, or first thing): SIGKILL it when its parent dies.
    Best effort: off Linux it does nothing, and the callers' other ends (a closed pipe, the
    server's stop) still apply."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)
