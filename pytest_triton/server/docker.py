"""Run Triton in a container through the Docker SDK: NGC images or anything with their layout.

The contract with the image is NGC's layout: `/opt/tritonserver/bin/tritonserver`, with backends
and caches where that binary looks by default. We run that binary with the same argv as local
mode (server/args.py), bound to 0.0.0.0 *inside* the container, while the engine publishes the
three ports on 127.0.0.1 only, on ephemeral host ports. The model repository is mounted
read-only, the container is never privileged, and it carries the session labels the reaper and
the watchdog (server/reaper.py) use so that nothing outlives the session.

The `docker` package is imported lazily: suites that never use docker mode do not need it.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pytest_triton.errors import ConfigError, ServerDiedError, ServerNotFoundError, ServerStartError
from pytest_triton.server import watchdog
from pytest_triton.server.base import Endpoints, ServerContext, ServerIdentity, read_log_tail
from pytest_triton.server.container_plan import (
    CONTAINER_BINARY,
    CONTAINER_PORTS,
    HOST_IP,
    plan_container,
)
from pytest_triton.server.owner import Owner
from pytest_triton.server.readiness import wait_until_ready
from pytest_triton.server.reaper import reap_orphans, session_labels, spawn_watchdog
from pytest_triton.spec import ServerSpec

if TYPE_CHECKING:
    import docker
    import docker.models.containers
    import docker.types

# Triton drains in-flight requests on SIGTERM; past this the engine sends SIGKILL.
STOP_TIMEOUT_S = 30

DOCKER_EXTRA_HELP = "docker mode needs the Docker SDK: pip install 'pytest-triton[docker]'"

Progress = Callable[[str], None]


def import_docker() -> Any:
    """The docker SDK module, or a ConfigError naming the extra that provides it."""
    try:
        import docker
    except ImportError:
        raise ConfigError(DOCKER_EXTRA_HELP) from None
    return docker


def _stderr_progress(message: str) -> None:
    print(f"pytest-triton: {message}", file=sys.stderr, flush=True)


class DockerServer(ServerContext):
    """Triton in a container of `spec.image`, explicit model control, ports on 127.0.0.1."""

    def __init__(
        self,
        spec: ServerSpec,
        workdir: Path,
        *,
        progress: Progress | None = None,
        session_id: str | None = None,
    ) -> None:
        self._spec = spec
        self._workdir = workdir
        self._progress = progress or _stderr_progress
        self._session_id = session_id or uuid.uuid4().hex[:12]
        self._name = f"pytest-triton-{self._session_id}-{uuid.uuid4().hex[:6]}"
        self._owner = Owner.current()
        # Validate every option now: a typo must fail before an image pull, not after.
        self.plan = plan_container(spec, self._name, session_labels(self._session_id, self._owner))
        self._log_path = (spec.log_dir or workdir) / "tritonserver.log"
        self._client: docker.DockerClient | None = None
        self._container: docker.models.containers.Container | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._log_thread: threading.Thread | None = None
        self._endpoints: Endpoints | None = None
        self._create_sent = False  # a create request went out: a container may exist
        self._version = ""
        self._digest = ""
        self.reaped: list[str] = []

    # -- Server protocol -------------------------------------------------------------------
    @property
    def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            raise RuntimeError("server not started")
        return self._endpoints

    @property
    def managed(self) -> bool:
        return True

    @property
    def log_path(self) -> Path | None:
        return self._log_path

    @property
    def container_name(self) -> str:
        return self._name

    @property
    def session_id(self) -> str:
        return self._session_id

    @property
    def watchdog_pid(self) -> int | None:
        return self._watchdog.pid if self._watchdog is not None else None

    def is_alive(self) -> bool:
        container = self._container
        if container is None:
            return False
        return self._state(container).get("Running") is True

    def log_tail(self, lines: int = 40) -> str:
        return read_log_tail(self._log_path, lines)

    def exit_reason(self) -> str:
        container = self._container
        state = self._state(container) if container is not None else {}
        if not state:
            return "was removed"
        oom = " (out of memory)" if state.get("OOMKilled") else ""
        return f"exited with status {state.get('ExitCode')}{oom}"

    def identity(self) -> ServerIdentity:
        return ServerIdentity(
            kind="docker", version=self._version, source=self.plan.image, digest=self._digest
        )

    def start(self) -> None:
        docker = import_docker()
        try:
            client = docker.from_env()
            client.ping()
        except docker.errors.DockerException as exc:
            raise ServerStartError(
                f"no Docker engine reachable ({exc}); start Docker (or set DOCKER_HOST), "
                "or run without --triton-image to use the local tritonserver"
            ) from None
        self._client = client
        try:
            self._start(client)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop (SIGTERM, then SIGKILL after STOP_TIMEOUT_S) and remove. Idempotent.

        Local resources (log stream, watchdog, client) are released even when the engine
        fails us; the watchdog is only let go once the container is known to be gone.
        """
        container, self._container = self._container, None
        try:
            self._remove_container(container)
        finally:
            if self._log_thread is not None:
                self._log_thread.join(timeout=10)
                self._log_thread = None
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
            if self._client is not None:
                self._client.close()
                self._client = None
        self._stop_watchdog()

    def _remove_container(self, container: docker.models.containers.Container | None) -> None:
        if self._client is None or not self._create_sent:
            return
        import docker.errors

        if container is None:
            # Interrupted between the engine creating it and us holding its handle.
            try:
                container = self._client.containers.get(self._name)
            except docker.errors.NotFound:
                return
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            container.stop(timeout=STOP_TIMEOUT_S)
        with contextlib.suppress(docker.errors.NotFound):
            try:
                container.remove(force=True, v=True)
            except docker.errors.APIError as exc:
                # 409: the engine is already removing it (e.g. our watchdog raced us).
                if exc.status_code != 409:
                    raise
        self._create_sent = False

    def _stop_watchdog(self) -> None:
        guard, self._watchdog = self._watchdog, None
        if guard is not None:
            watchdog.stop(guard)

    # -- steps -------------------------------------------------------------------------------
    def _start(self, client: docker.DockerClient) -> None:
        import docker.errors

        self.reaped = reap_orphans(client)
        if self.reaped:
            self._progress(
                f"removed {len(self.reaped)} container(s) left by dead pytest sessions: "
                + ", ".join(self.reaped)
            )
        image = self._ensure_image(client)
        self._digest = (image.attrs.get("RepoDigests") or [image.id])[0]

        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self._log_path.open("ab")
        # The equivalent command first: whoever reads a failing run's log can rerun it by hand.
        self._log_file.write(f"# pytest-triton: {self.plan.docker_run_line()}\n".encode())
        self._log_file.flush()
        self._watchdog = spawn_watchdog(
            self._name, self._owner, self._log_path.with_name("docker-watchdog.log")
        )
        self._create_sent = True
        container = client.containers.create(**self.plan.create_kwargs())
        self._container = container
        try:
            container.start()
        except docker.errors.APIError as exc:
            text = str(exc.explanation or exc)
            if "executable file not found" in text or "no such file or directory" in text:
                raise ServerNotFoundError(self._no_server_message(text)) from None
            if "could not select device driver" in text:
                raise ServerStartError(
                    f"--triton-gpus {self._spec.gpus!r}: this Docker engine cannot give "
                    f"containers GPUs ({text}); install the NVIDIA Container Toolkit on the "
                    "runner, or use --triton-gpus none for a CPU-only run"
                ) from None
            raise ServerStartError(
                f"container for {self.plan.image} did not start: {text}"
            ) from None
        self._log_thread = threading.Thread(
            target=self._stream_logs, args=(container,), name="triton-docker-logs", daemon=True
        )
        self._log_thread.start()

        try:
            self._endpoints = self._published_endpoints(container)
            probe = wait_until_ready(
                self._endpoints.http,
                timeout_s=self._spec.startup_timeout_s,
                is_alive=self.is_alive,
                log_tail=self._settled_log_tail,
                expected_id=self._name,
            )
        except ServerDiedError as exc:
            tail = exc.log_tail or self._settled_log_tail()
            code = self._state(container).get("ExitCode")
            # 126/127: the shell of an entrypoint script could not find/run the binary.
            if code in (126, 127):
                raise ServerNotFoundError(
                    self._no_server_message(f"exit code {code}") + "\n" + tail
                ) from None
            raise ServerDiedError(
                f"tritonserver in {self.plan.image} exited (code {code}) before becoming ready",
                tail,
            ) from None
        self._version = probe.version or ""

    def _ensure_image(self, client: docker.DockerClient) -> Any:
        import docker.errors

        image = self.plan.image
        try:
            return client.images.get(image)
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:
            raise ServerStartError(f"cannot inspect image {image}: {exc}") from None
        self._progress(f"image {image} not found locally; pulling it")
        repo, tag = _repository_and_tag(image)
        try:
            stream = client.api.pull(repo, tag=tag, stream=True, decode=True)
            for line in _pull_progress(stream, image):
                self._progress(line)
            return client.images.get(image)
        except docker.errors.DockerException as exc:
            raise ServerNotFoundError(self._pull_failed_message(str(exc))) from None
        except _PullError as exc:
            raise ServerNotFoundError(self._pull_failed_message(str(exc))) from None

    def _pull_failed_message(self, why: str) -> str:
        return (
            f"cannot pull image {self.plan.image}: {why}\n"
            "Check the name and tag; for NGC images run `docker login nvcr.io` "
            "(user $oauthtoken, password: your NGC API key); on machines without registry "
            "access, build or load the image beforehand (see docs/docker.md)."
        )

    def _no_server_message(self, why: str) -> str:
        return (
            f"image {self.plan.image} has no {CONTAINER_BINARY} ({why}); use an NGC Triton image "
            "(nvcr.io/nvidia/tritonserver:<yy.mm>-py3) or an image with the same layout"
        )

    def _published_endpoints(self, container: docker.models.containers.Container) -> Endpoints:
        container.reload()
        ports: dict[str, list[dict[str, str]] | None] = container.ports
        found: dict[str, str] = {}
        for role, port in CONTAINER_PORTS.items():
            bindings = ports.get(f"{port}/tcp") or []
            host_ports = [b["HostPort"] for b in bindings if b.get("HostIp") == HOST_IP]
            if not host_ports and not self.is_alive():
                # Exited already: the engine releases a dead container's port bindings.
                raise ServerDiedError("tritonserver exited before becoming ready", "")
            if not host_ports:
                raise ServerStartError(
                    f"the engine did not publish container port {port} on {HOST_IP} "
                    f"(bindings: {bindings})",
                    self._settled_log_tail(),
                )
            found[role] = f"{HOST_IP}:{host_ports[0]}"
        return Endpoints(grpc=found["grpc"], http=found["http"], metrics=found["metrics"])

    def _stream_logs(self, container: docker.models.containers.Container) -> None:
        """Copy the container's output into the session log until the container stops."""
        log_file = self._log_file
        if log_file is None:
            return
        try:
            for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
                log_file.write(chunk)
                log_file.flush()
        except Exception as exc:  # the container vanished mid-stream, or the file was closed
            with contextlib.suppress(ValueError, OSError):
                log_file.write(f"[pytest-triton: log stream ended: {exc}]\n".encode())

    def _settled_log_tail(self) -> str:
        """The log tail once the streamer has caught up (it lags the container by a moment)."""
        thread = self._log_thread
        if thread is not None and not self.is_alive():
            thread.join(timeout=5)
        elif thread is not None:
            time.sleep(0.2)
        return self.log_tail()

    def _state(self, container: docker.models.containers.Container) -> dict[str, Any]:
        import docker.errors

        try:
            container.reload()
        except docker.errors.NotFound:
            return {}
        state: dict[str, Any] = container.attrs.get("State", {})
        return state


class _PullError(Exception):
    """An error reported inside the pull stream (the HTTP call itself succeeded)."""


def _repository_and_tag(image: str) -> tuple[str, str]:
    from docker.utils import parse_repository_tag

    repo, tag = parse_repository_tag(image)
    return repo, tag or "latest"


def _pull_progress(
    stream: Iterator[dict[str, Any]], image: str, every_s: float = 2.0
) -> Iterator[str]:
    """Summarise the engine's per-layer pull events as one line every `every_s` seconds."""
    layers: dict[str, tuple[int, int]] = {}
    done: set[str] = set()
    last = time.monotonic()
    for event in stream:
        if "error" in event:
            raise _PullError(event.get("error") or "unknown error")
        layer = event.get("id")
        status = str(event.get("status", ""))
        detail = event.get("progressDetail") or {}
        if layer and "total" in detail:
            layers[layer] = (int(detail.get("current", 0)), int(detail["total"]))
        if layer and status in ("Pull complete", "Already exists"):
            done.add(layer)
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            current = sum(c for c, _ in layers.values())
            total = sum(t for _, t in layers.values())
            yield (
                f"pulling {image}: {len(done)} layer(s) done, "
                f"{current / 1e6:.0f}/{total / 1e6:.0f} MB downloading"
            )
    yield f"pulled {image}"
