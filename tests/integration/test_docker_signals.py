"""Nothing is left behind however pytest ends: real signals sent to a real pytest process.

Each test runs a pytest session in a subprocess whose session fixture starts a DockerServer,
waits until its test says the server is up, sends the signal to that pytest process only, and
then watches the engine until no container of the session remains.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_triton.server.docker import DockerServer
from pytest_triton.server.owner import Owner
from pytest_triton.server.reaper import LABEL_SESSION
from pytest_triton.spec import ServerSpec

pytestmark = pytest.mark.docker

REPO_ROOT = Path(__file__).resolve().parents[2]
# How long a dead session's container may outlive pytest. The watchdog is woken by the kernel
# (pidfd) and force-removes at once, so this is slack for a loaded 2-core CI machine.
GONE_WITHIN_S = 15.0

CONFTEST = """
import json, os, signal
from pathlib import Path

import pytest

from pytest_triton.server.docker import DockerServer
from pytest_triton.spec import ServerSpec

LOGS = Path(os.environ["SIGNAL_TEST_LOGS"])
# Ctrl-C as in a terminal. A CI script started as a background job of a non-interactive shell
# runs with SIGINT ignored, every child inherits that, and Python then never raises
# KeyboardInterrupt: the SIGINT test failed in CI that way, its session alive 60 s on.
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def server():
    spec = ServerSpec(
        mode="docker",
        image=os.environ["SIGNAL_TEST_IMAGE"],
        model_repository=Path(os.environ["SIGNAL_TEST_MODELS"]),
        log_dir=LOGS,
        startup_timeout_s=60,
    )
    server = DockerServer(spec, LOGS, session_id=os.environ["SIGNAL_TEST_SESSION"])
    server.start()
    yield server
    server.stop()
    (LOGS / "teardown-done").write_text("ok")
"""

TEST_FILE = """
import json, os, time
from pathlib import Path


def test_hold_the_server(server):
    ready = {
        "container": server.container_name, "watchdog": server.watchdog_pid, "pid": os.getpid()
    }
    Path(os.environ["SIGNAL_TEST_LOGS"], "ready.json").write_text(json.dumps(ready))
    # Short sleeps, not one long one: the kernel may hand SIGINT to another thread of this
    # process (the server's log stream), and Python then raises KeyboardInterrupt only when
    # the main thread's sleep returns, which for a sleep(300) would outlast the outer wait.
    for _ in range(3000):
        time.sleep(0.1)
"""


@dataclass
class Session:
    proc: subprocess.Popen[bytes]
    session_id: str
    logs: Path
    container: str
    watchdog_pid: int

    def output(self, timeout: float = 60) -> str:
        # Also proves the watchdog does not hold pytest's output pipe open: if it did, this
        # would block until the watchdog exits.
        out, _ = self.proc.communicate(timeout=timeout)
        return out.decode(errors="replace")

    def watchdog_log(self) -> str:
        path = self.logs / "docker-watchdog.log"
        return path.read_text() if path.exists() else ""


def _containers(client: Any, session_id: str) -> list[Any]:
    filters = {"label": f"{LABEL_SESSION}={session_id}"}
    return list(client.containers.list(all=True, filters=filters))


def _seconds_until_gone(client: Any, session_id: str, since: float) -> float:
    while _containers(client, session_id):
        if time.monotonic() - since > GONE_WITHIN_S:
            names = [c.name for c in _containers(client, session_id)]
            pytest.fail(f"containers {names} still exist {GONE_WITHIN_S:g}s after the signal")
        time.sleep(0.1)
    return time.monotonic() - since


@pytest.fixture
def session(
    pytester: pytest.Pytester, docker_client: Any, docker_image: str, example_repository: Path
) -> Any:
    """Start a pytest process holding a docker-mode server; yield once the server is up."""
    started: list[Session] = []

    def start() -> Session:
        pytester.makeconftest(CONFTEST)
        pytester.makepyfile(test_hold=TEST_FILE)
        session_id = f"sig{uuid.uuid4().hex[:9]}"
        logs = pytester.path / "logs"
        logs.mkdir()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
            "SIGNAL_TEST_IMAGE": docker_image,
            "SIGNAL_TEST_MODELS": str(example_repository),
            "SIGNAL_TEST_LOGS": str(logs),
            "SIGNAL_TEST_SESSION": session_id,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s"],
            cwd=pytester.path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        ready = logs / "ready.json"
        deadline = time.monotonic() + 90
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.communicate()[0].decode(errors="replace") if proc.poll() else ""
                proc.kill()
                pytest.fail(f"the pytest session never got its server up:\n{out}")
            time.sleep(0.1)
        info = json.loads(ready.read_text())
        assert info["pid"] == proc.pid
        running = docker_client.containers.get(info["container"])
        assert running.status == "running"
        assert running.labels[LABEL_SESSION] == session_id
        result = Session(proc, session_id, logs, info["container"], info["watchdog"])
        started.append(result)
        return result

    yield start
    import docker.errors  # the docker_client fixture skips, or fails in CI, without the SDK

    for s in started:  # never leave anything behind, even when an assertion failed
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
        for container in _containers(docker_client, s.session_id):
            try:
                container.remove(force=True)
            except docker.errors.APIError as exc:  # 409: the session's watchdog is removing it
                if exc.status_code != 409:
                    raise
        if _alive(s.watchdog_pid):
            os.kill(s.watchdog_pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        Owner.of(pid)
    except ProcessLookupError:
        return False
    return True


def test_sigint_tears_down_in_order(session: Any, docker_client: Any) -> None:
    s = session()
    sent = time.monotonic()
    s.proc.send_signal(signal.SIGINT)
    out = s.output()
    exited_after = time.monotonic() - sent
    assert s.proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "KeyboardInterrupt" in out
    # pytest's own teardown stopped and removed the container before pytest exited.
    assert (s.logs / "teardown-done").exists()
    assert _containers(docker_client, s.session_id) == []
    assert "died" not in s.watchdog_log()
    assert not _alive(s.watchdog_pid)
    print(f"SIGINT: pytest exited {exited_after:.2f}s after the signal, container already gone")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_watchdog_removes_the_container_when_pytest_dies(
    session: Any, docker_client: Any, sig: signal.Signals
) -> None:
    s = session()
    sent = time.monotonic()
    os.kill(s.proc.pid, sig)
    s.output()
    assert s.proc.returncode == -sig
    # No teardown ran: the watchdog, not pytest, removed the container.
    assert not (s.logs / "teardown-done").exists()
    gone_after = _seconds_until_gone(docker_client, s.session_id, sent)
    assert f"owner pid {s.proc.pid} died; removing container {s.container}" in s.watchdog_log()
    deadline = time.monotonic() + 10
    while _alive(s.watchdog_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(s.watchdog_pid), "the watchdog lingers after removing the container"
    print(f"{sig.name}: container gone {gone_after:.2f}s after the signal")


def test_next_session_reaps_what_a_killed_session_and_watchdog_left(
    session: Any, docker_client: Any, docker_image: str, example_repository: Path, tmp_path: Path
) -> None:
    # Everything on the host side dies at once (a CI job torn down): only the engine remains.
    s = session()
    os.kill(s.watchdog_pid, signal.SIGKILL)
    os.kill(s.proc.pid, signal.SIGKILL)
    s.output()
    time.sleep(1.0)
    (left,) = _containers(docker_client, s.session_id)
    assert left.name == s.container

    spec = ServerSpec(
        mode="docker", image=docker_image, model_repository=example_repository, log_dir=tmp_path
    )
    progress: list[str] = []
    following = DockerServer(spec, tmp_path, progress=progress.append)
    try:
        following.start()
        assert s.container in following.reaped
        assert _containers(docker_client, s.session_id) == []
        assert any(s.container in line for line in progress)
        # ...and it left its own, live session's container alone.
        assert docker_client.containers.get(following.container_name).status == "running"
    finally:
        following.stop()
