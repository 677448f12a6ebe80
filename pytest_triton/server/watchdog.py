"""A watchdog process: started beside a server, it waits for the pytest that owns the server to
die and then cleans up what pytest could not. Two use it: reaper.py (a container) and
local_watchdog.py (a local server's process group).

What they share, and why:
- it runs in its own session (setsid) with no inherited file descriptors, so a Ctrl-C or a
  process-group kill aimed at pytest does not take it down, and it never holds pytest's output
  pipes open (a caller reading pytest's stdout would otherwise hang until it exits);
- it ignores SIGINT and SIGHUP, which are pytest's to handle in order; SIGTERM, from the
  owner's own teardown, keeps its default action: exit;
- it reports only to its log file: there is no one else left to tell.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pytest_triton.process import python_child_env
from pytest_triton.server.owner import Owner, host_key

Log = Callable[[str], None]


def spawn(
    module: str, owner: Owner, arguments: Sequence[str], log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `python -m module` as the watchdog of `owner`, with its own `arguments`."""
    argv = [
        sys.executable,
        "-m",
        module,
        "--owner-pid",
        str(owner.pid),
        "--owner-start",
        str(owner.start_ticks),
        *arguments,
    ]
    if log_path is not None:
        argv += ["--log", str(log_path)]
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        start_new_session=True,
        env=python_child_env(),
    )


def stop(watchdog: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """End a watchdog whose owner tore down in order."""
    if watchdog.poll() is None:
        watchdog.terminate()
        try:
            watchdog.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            watchdog.kill()
            watchdog.wait()


def main(
    argv: list[str] | None,
    parser: argparse.ArgumentParser,
    body: Callable[[Owner, argparse.Namespace, Log], int],
) -> int:
    """A watchdog's entry point: `parser` has its own arguments (the owner's and --log are
    added here); `body` does its work once told who the owner is."""
    parser.add_argument("--owner-pid", type=int, required=True)
    parser.add_argument("--owner-start", type=int, required=True)
    parser.add_argument("--log", type=Path)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def log(message: str) -> None:
        if args.log is None:
            return
        with contextlib.suppress(OSError), args.log.open("a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} watchdog[{os.getpid()}]: {message}\n")

    owner = Owner(pid=args.owner_pid, start_ticks=args.owner_start, host=host_key())
    try:
        return body(owner, args, log)
    except Exception as exc:  # the watchdog has no one to report to but its log
        log(f"failed: {exc!r}")
        return 1
