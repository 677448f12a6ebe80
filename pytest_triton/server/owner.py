"""Who owns what we start: a pytest process identified so that pid reuse cannot fool us, and a
wait for its death that the kernel wakes (a pidfd) whatever killed it.

The docker watchdog and reaper (reaper.py) and the local server's watchdog (local_watchdog.py)
both act on an owner's death: removing its container, or ending the server's process group.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Owner:
    """The pytest process a container or server belongs to, identified so that pid reuse cannot
    fool us."""

    pid: int
    start_ticks: int  # field 22 of /proc/<pid>/stat: start time in clock ticks since boot
    host: str  # boot id + pid namespace: where `pid` means this process

    @classmethod
    def current(cls) -> Owner:
        return cls.of(os.getpid())

    @classmethod
    def of(cls, pid: int) -> Owner:
        start = process_start_ticks(pid)
        if start is None:
            raise ProcessLookupError(pid)
        return cls(pid=pid, start_ticks=start, host=host_key())

    def is_alive(self) -> bool:
        """True while the very process we recorded is running (zombies count as dead)."""
        return process_start_ticks(self.pid) == self.start_ticks


def process_start_ticks(pid: int) -> int | None:
    """Start time of a live process, or None when there is none (or only its zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2 :].split()
    state, start = fields[0], fields[19]
    if state in ("Z", "X"):
        return None
    return int(start)


def host_key() -> str:
    """Identifies the pid space of this process: a reboot or another pid namespace changes it."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = "unknown-boot"
    try:
        pidns = os.readlink("/proc/self/ns/pid")  # e.g. "pid:[4026531836]"
    except OSError:
        pidns = "unknown-ns"
    return f"{boot}/{pidns.removeprefix('pid:').strip('[]')}"


def wait_for_death(
    owner: Owner,
    *,
    stop_waiting: Callable[[], bool] = lambda: False,
    check_every_s: float = 2.0,
) -> bool:
    """Block until `owner` dies (True) or `stop_waiting()` says to give up (False)."""
    if not owner.is_alive():
        return True
    pidfd: int | None
    try:
        pidfd = os.pidfd_open(owner.pid)
    except (AttributeError, OSError):  # pre-5.3 kernel or not Linux: fall back to polling
        pidfd = None
    try:
        # The pid could have been recycled between is_alive() and pidfd_open(): re-check.
        if not owner.is_alive():
            return True
        while True:
            if pidfd is not None:
                readable, _, _ = select.select([pidfd], [], [], check_every_s)
                if readable:
                    return True
            else:
                time.sleep(min(check_every_s, 0.2))
                if not owner.is_alive():
                    return True
            if stop_waiting():
                return False
    finally:
        if pidfd is not None:
            os.close(pidfd)
