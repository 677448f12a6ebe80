"""Session labels, owner identity and the watchdog's wait, with real processes (no engine)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pytest_triton.server.owner import Owner, host_key, process_start_ticks, wait_for_death
from pytest_triton.server.reaper import (
    LABEL_HOST,
    LABEL_OWNER_PID,
    LABEL_OWNER_START,
    LABEL_SESSION,
    is_orphan,
    owner_from_labels,
    session_labels,
)


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_labels_round_trip_to_the_owner() -> None:
    owner = Owner.current()
    labels = session_labels("s1", owner)
    assert labels[LABEL_SESSION] == "s1"
    assert labels[LABEL_OWNER_PID] == str(os.getpid())
    assert all(isinstance(v, str) for v in labels.values())
    assert owner_from_labels(labels) == owner


@pytest.mark.parametrize(
    "labels",
    [
        {},
        {LABEL_SESSION: "s"},
        {LABEL_OWNER_PID: "x", LABEL_OWNER_START: "1", LABEL_HOST: "h"},
        {LABEL_OWNER_PID: "1", LABEL_OWNER_START: "", LABEL_HOST: "h"},
    ],
)
def test_mangled_labels_are_never_orphans(labels: dict[str, str]) -> None:
    assert owner_from_labels(labels) is None
    assert not is_orphan(labels)


def test_live_owner_is_not_an_orphan() -> None:
    assert Owner.current().is_alive()
    assert not is_orphan(session_labels("s", Owner.current()))


def test_dead_owner_is_an_orphan() -> None:
    proc = _sleeper()
    owner = Owner.of(proc.pid)
    labels = session_labels("s", owner)
    proc.kill()
    # Not yet reaped by us: a zombie must already count as dead.
    time.sleep(0.2)
    assert process_start_ticks(proc.pid) is None
    assert is_orphan(labels)
    proc.wait()
    assert is_orphan(labels)


def test_recycled_pid_does_not_look_alive() -> None:
    me = Owner.current()
    impostor = Owner(pid=me.pid, start_ticks=me.start_ticks + 1, host=me.host)
    assert not impostor.is_alive()
    assert is_orphan(session_labels("s", impostor))


def test_owner_of_another_pid_space_is_left_alone() -> None:
    proc = _sleeper()
    owner = Owner.of(proc.pid)
    proc.kill()
    proc.wait()
    elsewhere = Owner(pid=owner.pid, start_ticks=owner.start_ticks, host="other-boot/1")
    assert not is_orphan(session_labels("s", elsewhere))


def test_host_key_names_boot_and_pid_namespace() -> None:
    boot, ns = host_key().split("/")
    assert len(boot) == 36
    assert ns.isdigit()


def test_process_start_ticks_survives_odd_process_names(tmp_path: Path) -> None:
    # /proc/<pid>/stat quotes the executable's name raw: spaces and ')' must not shift fields.
    odd = tmp_path / "x) (y z"
    odd.symlink_to(sys.executable)
    proc = subprocess.Popen([str(odd), "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        assert Path(f"/proc/{proc.pid}/comm").read_text().strip() == "x) (y z"
        assert process_start_ticks(proc.pid) == Owner.of(proc.pid).start_ticks
        assert Owner.of(proc.pid).is_alive()
    finally:
        proc.kill()
        proc.wait()
    assert process_start_ticks(proc.pid) is None


def test_wait_for_death_wakes_up_when_the_owner_is_killed() -> None:
    proc = _sleeper()
    owner = Owner.of(proc.pid)
    woke: list[float] = []

    def waiter() -> None:
        assert wait_for_death(owner, check_every_s=30)
        woke.append(time.monotonic())

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.3)
    killed_at = time.monotonic()
    proc.kill()
    thread.join(timeout=10)
    proc.wait()
    assert woke, "wait_for_death did not return after the owner died"
    # pidfd: the kernel wakes us, no 30 s poll interval in between.
    assert woke[0] - killed_at < 2.0


def test_wait_for_death_gives_up_when_asked() -> None:
    calls: list[int] = []

    def stop_waiting() -> bool:
        calls.append(1)
        return len(calls) >= 2

    assert not wait_for_death(Owner.current(), stop_waiting=stop_waiting, check_every_s=0.05)
    assert len(calls) == 2
