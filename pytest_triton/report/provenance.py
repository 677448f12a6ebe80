"""Where and from what a report was made: this machine, and the commit of the checkout."""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any


def machine_info() -> dict[str, Any]:
    """pytest-benchmark's machine_info fields this machine can tell without extra packages."""
    uname = platform.uname()
    return {
        "node": uname.node,
        "processor": uname.processor,
        "machine": uname.machine,
        "python_compiler": platform.python_compiler(),
        "python_implementation": platform.python_implementation(),
        "python_implementation_version": platform.python_version(),
        "python_version": platform.python_version(),
        "python_build": list(platform.python_build()),
        "release": uname.release,
        "system": uname.system,
        "cpu": {"count": os.cpu_count() or 0},
    }


def commit_info() -> dict[str, Any]:
    """The checkout's commit, as pytest-benchmark records it ({} outside a git checkout)."""

    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=10, check=False
        )
        return out.stdout.strip() if out.returncode == 0 else ""

    try:
        commit = git("rev-parse", "HEAD")
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if not commit:
        return {}
    return {
        "id": commit,
        "time": git("show", "-s", "--format=%cI", "HEAD"),
        "author_time": git("show", "-s", "--format=%aI", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
    }
