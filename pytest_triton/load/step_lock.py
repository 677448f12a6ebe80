"""One measurement step at a time across processes: pytest-xdist workers on one machine take
turns, so no worker measures while another loads the same CPUs or GPU.

An advisory lock (flock) on a file all the workers of one run share; the kernel releases it if
its holder dies, so a killed worker cannot block the others.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class StepLock:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def held(self) -> Iterator[None]:
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock
