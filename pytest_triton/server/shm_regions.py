"""The python backend's shared-memory regions of the servers we start: named after their owner,
and removed once their server is gone.

Each python model instance shares a region of /dev/shm (1 MiB by default) with the server. A
server that exits in order has its stubs remove theirs; a stub that is SIGKILLed (the server's
process group ended after a hang, a kill -9 or a killed pytest) leaves its region behind, and
/dev/shm is memory: a container's is 64 MiB by default, so a few dozen leftovers stop python
models from loading. So every server we start names its regions with a prefix saying which
pytest process owns it, and they are removed when the server's process group is gone: by
LocalServer.stop, by the local watchdog after a killed pytest, and at the next local session's
start for owners that are dead (everything killed at once, watchdog included).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable
from pathlib import Path

from pytest_triton.server.owner import Owner, host_key

SHM_DIR = Path("/dev/shm")
REGION_NAMESPACE = "pytest_triton_"

# The python backend's option that names the regions: the stub's region is this prefix plus a
# uuid (seen: "<prefix>6a07c384-447c-...").
PREFIX_OPTION = "shm-region-prefix-name"


def _host_tag(host: str) -> str:
    # /dev/shm can be shared by processes of several pid namespaces (docker --ipc=host):
    # a pid is only judged where it means the same process.
    return hashlib.sha256(host.encode()).hexdigest()[:8]


def region_prefix(owner: Owner, server_tag: str) -> str:
    """The prefix of one server's regions: namespace, host, owner pid and start, server."""
    return (
        f"{REGION_NAMESPACE}{_host_tag(owner.host)}_{owner.pid}_{owner.start_ticks}_{server_tag}_"
    )


def remove_regions(prefix: str, shm_dir: Path = SHM_DIR) -> list[str]:
    """Unlink the regions whose names start with `prefix`; returns the names removed."""
    if not prefix.startswith(REGION_NAMESPACE):
        raise ValueError(f"{prefix!r} is not a pytest-triton region prefix")
    return _unlink(shm_dir.glob(f"{prefix}*"))


def region_owner(name: str, here: str | None = None) -> Owner | None:
    """The owner a region's name records, when it is one of ours and of this pid namespace
    (`here`: host_key(), when the caller already has it)."""
    if not name.startswith(REGION_NAMESPACE):
        return None
    parts = name[len(REGION_NAMESPACE) :].split("_")
    if len(parts) < 4:
        return None
    here = here if here is not None else host_key()
    host, pid, start = parts[0], parts[1], parts[2]
    if host != _host_tag(here) or not (pid.isdigit() and start.isdigit()):
        return None
    return Owner(pid=int(pid), start_ticks=int(start), host=here)


def reap_dead_owners_regions(shm_dir: Path = SHM_DIR) -> list[str]:
    """Unlink the regions of servers whose owning pytest process is dead; returns their names.
    Regions of live owners, of other pid namespaces and not of ours are left alone."""
    here = host_key()
    dead = []
    for path in shm_dir.glob(f"{REGION_NAMESPACE}*"):
        owner = region_owner(path.name, here)
        if owner is not None and not owner.is_alive():
            dead.append(path)
    return _unlink(dead)


def _unlink(paths: Iterable[Path]) -> list[str]:
    """Unlink each path, skipping one already gone; returns the names removed."""
    removed: list[str] = []
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path.name)
    return removed
