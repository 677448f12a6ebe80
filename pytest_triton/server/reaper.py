"""Nothing left behind: session labels, a reaper for dead sessions' containers, and a watchdog.

A container outlives the process that started it unless someone removes it. Three exits to cover:

- normal end and SIGINT: pytest unwinds, the fixture's teardown stops and removes the container.
- SIGTERM and SIGKILL: pytest runs no teardown (Python's default SIGTERM action kills it
  outright). A **watchdog** process, spawned before the container is created, waits for the
  pytest process to die and then force-removes the container.
- everything died together (machine or CI job torn down, watchdog killed too): the **reaper** at
  the next session's start removes labelled containers whose owner process is dead.

Why a detached host process for the watchdog, rather than a sidecar container (testcontainers'
Ryuk) or a wrapper inside the Triton container:
- it waits on a pidfd (Linux >= 5.3): woken by the kernel the instant the owner dies, whatever
  the signal, with no polling delay and no pid-reuse race;
- it needs no extra image (Ryuk's must be pulled; nothing can be pulled on air-gapped runners)
  and no Docker socket mounted into a container (that is root on the host);
- the Triton container keeps running tritonserver itself, exactly the `docker run` line users
  would type, with no shell wrapper between the engine's signals and the server;
- it is out of reach of what is aimed at pytest (watchdog.py says how).

Labels record the owner as (pid, process start time, host key). The start time makes a recycled
pid not look like a live owner; the host key (boot id + pid namespace) keeps a reaper from judging
pids of another machine or container that shares the same engine: those are left alone.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_triton.server import watchdog
from pytest_triton.server.owner import Owner, host_key, wait_for_death

if TYPE_CHECKING:
    import docker

LABEL_PREFIX = "org.pytest-triton"
LABEL_SESSION = f"{LABEL_PREFIX}.session"
LABEL_OWNER_PID = f"{LABEL_PREFIX}.owner-pid"
LABEL_OWNER_START = f"{LABEL_PREFIX}.owner-start"
LABEL_HOST = f"{LABEL_PREFIX}.host"

# After the owner dies the watchdog removes the container, then looks once more after this long:
# a create request the owner sent just before dying may still be completing in the engine.
SECOND_SWEEP_DELAY_S = 2.0


def session_labels(session_id: str, owner: Owner) -> dict[str, str]:
    """Labels put on every container a session starts; the reaper reads them back."""
    return {
        LABEL_SESSION: session_id,
        LABEL_OWNER_PID: str(owner.pid),
        LABEL_OWNER_START: str(owner.start_ticks),
        LABEL_HOST: owner.host,
    }


def owner_from_labels(labels: Mapping[str, str]) -> Owner | None:
    """The owner recorded in a container's labels; None when they are missing or mangled."""
    try:
        return Owner(
            pid=int(labels[LABEL_OWNER_PID]),
            start_ticks=int(labels[LABEL_OWNER_START]),
            host=labels[LABEL_HOST],
        )
    except (KeyError, ValueError):
        return None


def is_orphan(labels: Mapping[str, str], here: str | None = None) -> bool:
    """A session container whose owner ran in this pid space and is gone.

    Containers of owners elsewhere (another machine or container using the same engine) are
    never orphans to us: we cannot see their processes. Neither are containers with mangled
    labels: we cannot tell whose they are.
    """
    owner = owner_from_labels(labels)
    if owner is None:
        return False
    if owner.host != (here if here is not None else host_key()):
        # Same boot id but another pid namespace, or another machine: not ours to judge.
        return False
    return not owner.is_alive()


def reap_orphans(client: docker.DockerClient) -> list[str]:
    """Force-remove containers left by dead pytest-triton sessions; return their names."""
    import docker.errors

    here = host_key()
    reaped: list[str] = []
    for container in client.containers.list(all=True, filters={"label": LABEL_SESSION}):
        if is_orphan(container.labels, here):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
                reaped.append(container.name)
    return reaped


# -- watchdog ----------------------------------------------------------------------------------


def spawn_watchdog(
    container_name: str, owner: Owner, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start the watchdog for a container that is about to be created under `container_name`.

    Spawned *before* the container exists so that no instant passes in which pytest could die
    with a container and no watchdog. The caller stops it (watchdog.stop) after its teardown.
    """
    return watchdog.spawn(
        "pytest_triton.server.reaper", owner, ["--container", container_name], log_path
    )


def run_watchdog(owner: Owner, container_name: str, log: Callable[[str], None]) -> int:
    """The watchdog's body: outlive the owner by as long as it takes to remove the container."""
    import docker
    import docker.errors

    client = docker.from_env()
    seen = False

    def container_gone_after_teardown() -> bool:
        # Normal teardown removes the container (and terminates us); if that message was lost,
        # exit once the container we saw is gone, rather than lingering until pytest exits.
        nonlocal seen
        try:
            client.containers.get(container_name)
        except docker.errors.NotFound:
            return seen
        except docker.errors.DockerException:
            return False
        seen = True
        return False

    if not wait_for_death(owner, stop_waiting=container_gone_after_teardown):
        log(f"container {container_name} removed by its session; watchdog exits")
        return 0
    log(f"owner pid {owner.pid} died; removing container {container_name}")
    for attempt in range(2):
        try:
            client.containers.get(container_name).remove(force=True, v=True)
            log(f"removed {container_name}")
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:  # e.g. removal already in progress
            log(f"removing {container_name}: {exc}")
        if attempt == 0:
            time.sleep(SECOND_SWEEP_DELAY_S)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_triton.server.reaper",
        description="Remove a pytest-triton container once the pytest process that owns it dies.",
    )
    parser.add_argument("--container", required=True)
    return watchdog.main(
        argv, parser, lambda owner, args, log: run_watchdog(owner, args.container, log)
    )


if __name__ == "__main__":
    sys.exit(main())
