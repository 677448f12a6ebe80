"""Nothing of a local server outlives its pytest: the end of a server's process group, and a
watchdog that does it when pytest is SIGKILLed.

tritonserver dies with pytest (PR_SET_PDEATHSIG, process.py), but the other processes of its
group are its children, not ours, and re-parented to init some run on: a python stub whose
server died while it was starting waits for it forever, ignoring SIGTERM (seen after a search
test SIGKILLed pytest: a stub still running 12 minutes later; killing servers at random points
of a load left stubs in 2 of 12 tries), and so does any process a model started. The server
runs in a session of its own, so its process group id is its pid and those processes are the
group's other members.

- LocalServer.stop ends the group itself (end_server below) and then stops the watchdog.
- A SIGKILLed pytest runs no stop: the watchdog (watchdog.py), started with the server, wakes
  on pytest's death (a pidfd, owner.py) and ends the group. It exits on its own once the group
  is gone while pytest lives (stop's message to it was lost).

Ending a group also removes the server's shared-memory regions (shm_regions.py): a SIGKILLed
stub leaves its region behind.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pytest_triton.server import watchdog
from pytest_triton.server.owner import Owner, wait_for_death
from pytest_triton.server.shm_regions import remove_regions

# After SIGKILL the group's members are gone within milliseconds; regions are removed after
# they are, or a stub still exiting could be left mapping an unlinked region (harmless) or,
# worse, be mid-creation of a new one.
GROUP_EXIT_WAIT_S = 5.0


def group_alive(pgid: int) -> bool:
    """True while any process is in group `pgid` (zombies included: they are being reaped)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member we may not signal is still a member
        return True
    return True


def end_server(pgid: int, shm_prefix: str) -> list[str]:
    """SIGKILL what is left of a server's process group (its stubs, when the server died
    without ending them), then unlink its shared-memory regions; returns the regions removed.
    A group with no members left is nothing to kill."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + GROUP_EXIT_WAIT_S
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return remove_regions(shm_prefix)


def spawn_watchdog(
    owner: Owner, server_pgid: int, shm_prefix: str, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start the watchdog of a server just started as group `server_pgid`; the caller stops it
    (watchdog.stop) after its own stop."""
    arguments = ["--server-group", str(server_pgid), "--shm-prefix", shm_prefix]
    return watchdog.spawn("pytest_triton.server.local_watchdog", owner, arguments, log_path)


def run_watchdog(owner: Owner, pgid: int, shm_prefix: str, log: watchdog.Log) -> int:
    """The watchdog's body: outlive the owner by as long as it takes to end its server."""
    if not wait_for_death(owner, stop_waiting=lambda: not group_alive(pgid)):
        log(f"server group {pgid} ended by its session; watchdog exits")
        return 0
    log(f"owner pid {owner.pid} died; ending server group {pgid}")
    removed = end_server(pgid, shm_prefix)
    log(f"server group {pgid} ended; {len(removed)} shared-memory regions removed")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_triton.server.local_watchdog",
        description="End a local tritonserver's process group once the pytest that owns it dies.",
    )
    parser.add_argument("--server-group", type=int, required=True)
    parser.add_argument("--shm-prefix", required=True)
    return watchdog.main(
        argv,
        parser,
        lambda owner, args, log: run_watchdog(owner, args.server_group, args.shm_prefix, log),
    )


if __name__ == "__main__":
    sys.exit(main())
