"""pytest-xdist workers take turns: while one holds the step lock another process cannot, and a
dead holder does not block the rest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pytest_triton.load.step_lock import StepLock

TRY = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(3)
"""


def _other_process_can_lock(path: Path) -> bool:
    done = subprocess.run([sys.executable, "-c", TRY, str(path)], timeout=30, check=False)
    return done.returncode == 0


def test_another_process_waits_while_a_step_holds_the_lock(tmp_path: Path) -> None:
    lock = StepLock(tmp_path / "steps.lock")
    with lock.held():
        assert not _other_process_can_lock(lock.path)
    assert _other_process_can_lock(lock.path)


def test_a_holder_that_died_leaves_the_lock_free(tmp_path: Path) -> None:
    path = tmp_path / "steps.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", TRY + "print('held', flush=True)\nimport time; time.sleep(60)",
         str(path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert not _other_process_can_lock(path)
        holder.kill()
        holder.wait()
        with StepLock(path).held():
            pass  # acquired: the kernel released the dead holder's lock
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
