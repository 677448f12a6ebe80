"""Child processes: they cannot outlive pytest, and our Python children find this package.

Every process we start (the server, the load generators, perf_analyzer) asks the kernel to
SIGKILL it when its parent dies (Linux's PR_SET_PDEATHSIG), so a SIGKILLed pytest leaves
nothing running. SIGKILL, not a catchable signal: a child that is hung or ignores signals must
still go.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest_triton

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


def python_child_env() -> dict[str, str]:
    """The environment for a `python -m pytest_triton...` child: ours, with the directory this
    package was imported from first on PYTHONPATH, since it may not be installed (a checkout)."""
    here = str(Path(pytest_triton.__file__).resolve().parents[1])
    existing = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (here, existing) if p)}
