"""The local server's watchdog, with real processes: a SIGKILLed owner's server group ends and
its regions go; a group stopped in order lets the watchdog exit without touching anything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from pytest_triton.server.local_watchdog import group_alive, spawn_watchdog
from pytest_triton.server.owner import Owner
from pytest_triton.server.shm_regions import SHM_DIR, region_prefix

# A stand-in server: a group leader whose child ignores SIGTERM, as a stub left by a dead
# server does.
SERVER = """
import signal, subprocess, sys, time
subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
time.sleep(600)
"""


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])


def _server() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", SERVER], start_new_session=True)


def _wait(condition, deadline_s: float = 15) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_owners_death_ends_the_server_group_and_removes_its_regions(tmp_path: Path) -> None:
    owner_proc, server = _sleeper(), _server()
    owner = Owner.of(owner_proc.pid)
    prefix = region_prefix(owner, uuid.uuid4().hex[:12])
    region = SHM_DIR / f"{prefix}6a07c384"
    region.write_bytes(b"\0" * 16)
    log = tmp_path / "watchdog.log"
    watchdog = spawn_watchdog(owner, server.pid, prefix, log)
    try:
        time.sleep(1.0)  # the watchdog is waiting
        assert watchdog.poll() is None and group_alive(server.pid)
        owner_proc.kill()
        owner_proc.wait()
        # server.poll() reaps it: here the test, not a dead pytest, is the server's parent
        assert _wait(lambda: server.poll() is not None and not group_alive(server.pid))
        assert _wait(lambda: not region.exists())
        assert watchdog.wait(timeout=10) == 0
        assert "1 shared-memory regions removed" in log.read_text()
    finally:
        owner_proc.kill()
        region.unlink(missing_ok=True)
        if group_alive(server.pid):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def test_a_group_stopped_in_order_lets_the_watchdog_exit(tmp_path: Path) -> None:
    owner_proc, server = _sleeper(), _server()
    owner = Owner.of(owner_proc.pid)
    watchdog = spawn_watchdog(owner, server.pid, region_prefix(owner, "aaaaaaaaaaaa"))
    try:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        assert watchdog.wait(timeout=15) == 0  # it polls the group every 2 s
        assert owner_proc.poll() is None
    finally:
        owner_proc.kill()
        owner_proc.wait()
