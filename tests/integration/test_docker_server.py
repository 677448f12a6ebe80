"""Docker mode against a real engine and a real Triton image (scripts/build_cpu_image.sh)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_triton.errors import ServerDiedError, ServerNotFoundError, ServerStartError
from pytest_triton.server.container_plan import CONTAINER_MODELS
from pytest_triton.server.docker import DockerServer
from pytest_triton.server.models import ModelController
from pytest_triton.server.owner import Owner
from pytest_triton.server.reaper import LABEL_SESSION, reap_orphans, session_labels
from pytest_triton.spec import ModelSpec, ServerSpec, frozen_mapping

pytestmark = pytest.mark.docker


def _spec(image: str, models: Path, tmp_path: Path, **kwargs: Any) -> ServerSpec:
    return ServerSpec(
        mode="docker",
        image=image,
        model_repository=models,
        log_dir=tmp_path / "logs",
        startup_timeout_s=60,
        **kwargs,
    )


def _session_containers(client: Any, session_id: str) -> list[Any]:
    return list(
        client.containers.list(all=True, filters={"label": f"{LABEL_SESSION}={session_id}"})
    )


def _gone(client: Any, name: str) -> bool:
    import docker

    try:
        client.containers.get(name)
    except docker.errors.NotFound:
        return True
    return False


@pytest.fixture
def started(
    docker_client: Any, docker_image: str, example_repository: Path, tmp_path: Path
) -> Iterator[DockerServer]:
    server = DockerServer(
        _spec(
            docker_image,
            example_repository,
            tmp_path,
            env=frozen_mapping({"EXAMPLE_EXTRA_MS": "0"}),
        ),
        tmp_path,
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_serves_a_python_model_then_leaves_nothing(
    started: DockerServer, docker_client: Any, example_repository: Path
) -> None:
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient

    server = started
    container = docker_client.containers.get(server.container_name)
    attrs = container.attrs

    # Published on loopback only, on ephemeral ports; bound to 0.0.0.0 inside.
    for role in ("http", "grpc", "metrics"):
        host, port = getattr(server.endpoints, role).split(":")
        assert host == "127.0.0.1"
        assert int(port) not in (8000, 8001, 8002)
    for bindings in attrs["NetworkSettings"]["Ports"].values():
        assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}
    assert "--http-address=0.0.0.0" in attrs["Args"]
    # Read-only model repository, not privileged, labelled with the session.
    (models,) = [m for m in attrs["Mounts"] if m["Destination"] == CONTAINER_MODELS]
    assert models["RW"] is False
    assert Path(models["Source"]) == example_repository.resolve()
    assert attrs["HostConfig"]["Privileged"] is False
    assert attrs["Config"]["Labels"][LABEL_SESSION] == server.session_id
    assert attrs["HostConfig"]["ShmSize"] == 256 * 1024 * 1024

    identity = server.identity()
    assert identity.kind == "docker"
    assert identity.version.startswith("2.")
    assert identity.digest.startswith("sha256:")

    # Load with a config override and infer over both protocols.
    controller = ModelController(server.endpoints.http, example_repository, server)
    controller.load(
        ModelSpec(
            name="tiny",
            config=frozen_mapping({"instance_group": [{"count": 2, "kind": "KIND_CPU"}]}),
        )
    )
    assert controller.config("tiny")["instance_group"][0]["count"] == 2
    x = np.arange(16, dtype=np.float32).reshape(1, 16)

    http = httpclient.InferenceServerClient(server.endpoints.http)
    inp = httpclient.InferInput("INPUT0", [1, 16], "FP32")
    inp.set_data_from_numpy(x)
    out = http.infer("tiny", [inp]).as_numpy("OUTPUT0")
    np.testing.assert_array_equal(out, x + 1)

    grpc = grpcclient.InferenceServerClient(server.endpoints.grpc)
    ginp = grpcclient.InferInput("INPUT0", [1, 16], "FP32")
    ginp.set_data_from_numpy(x)
    np.testing.assert_array_equal(grpc.infer("tiny", [ginp]).as_numpy("OUTPUT0"), x + 1)

    # Idle keep-alive connections would hold Triton's graceful exit for its 30 s exit timeout.
    http.close()
    grpc.close()

    metrics_url = server.endpoints.metrics_url
    assert metrics_url is not None
    # Triton records a request's metrics just after answering it: allow it a moment.
    expected = 'nv_inference_request_success{model="tiny",version="1"} 2'
    deadline = time.monotonic() + 10
    while True:
        with urllib.request.urlopen(metrics_url, timeout=5) as r:
            metrics = r.read().decode()
        if expected in metrics or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert expected in metrics

    # The server's output streams to the session log, as in local mode.
    time.sleep(0.5)
    log = server.log_tail(400)
    assert "Started GRPCInferenceService at 0.0.0.0:8001" in log
    first = server.log_path.read_text().splitlines()[0] if server.log_path else ""
    assert first == f"# pytest-triton: {server.plan.docker_run_line()}"
    assert "successfully loaded 'tiny'" in log

    watchdog = server.watchdog_pid
    assert watchdog is not None and Owner.of(watchdog).is_alive()
    server.stop()
    assert _gone(docker_client, server.container_name)
    assert _session_containers(docker_client, server.session_id) == []
    assert not server.is_alive()
    with pytest.raises(ProcessLookupError):
        Owner.of(watchdog)
    # Triton unloaded its model on SIGTERM: it stopped gracefully, not by SIGKILL.
    assert "successfully unloaded 'tiny'" in server.log_tail(50)
    server.stop()  # idempotent


def test_startup_failure_shows_the_log_tail_and_removes_the_container(
    docker_client: Any, docker_image: str, example_repository: Path, tmp_path: Path
) -> None:
    spec = _spec(
        docker_image, example_repository, tmp_path, flags=frozen_mapping({"log-verbose": "loud"})
    )
    server = DockerServer(spec, tmp_path)
    with pytest.raises(ServerDiedError) as info:
        server.start()
    message = str(info.value)
    assert "exited (code 1) before becoming ready" in message
    assert "--- tritonserver log (tail) ---" in message
    assert "log-verbose" in info.value.log_tail
    assert _gone(docker_client, server.container_name)
    assert (tmp_path / "logs" / "tritonserver.log").read_text() != ""


def test_unpullable_image_is_a_clear_error(
    docker_client: Any, example_repository: Path, tmp_path: Path
) -> None:
    # A registry on a closed loopback port: the pull fails fast and touches no network.
    image = "127.0.0.1:9/pytest-triton/missing:never"
    progress: list[str] = []
    server = DockerServer(
        _spec(image, example_repository, tmp_path), tmp_path, progress=progress.append
    )
    with pytest.raises(
        ServerNotFoundError, match=r"cannot pull image 127\.0\.0\.1:9/pytest-triton/missing:never"
    ) as info:
        server.start()
    assert "docker login nvcr.io" in str(info.value)
    assert progress == [f"image {image} not found locally; pulling it"]
    assert _session_containers(docker_client, server.session_id) == []


@pytest.fixture
def empty_image(docker_client: Any) -> Iterator[str]:
    """An image with a single file and no tritonserver."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("README")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    tag = "pytest-triton/no-server:test"
    docker_client.api.import_image_from_data(
        buf.getvalue(), repository=tag.split(":")[0], tag="test"
    )
    yield tag
    docker_client.images.remove(tag, force=True)


def test_image_without_tritonserver_is_a_clear_error(
    docker_client: Any, empty_image: str, example_repository: Path, tmp_path: Path
) -> None:
    server = DockerServer(_spec(empty_image, example_repository, tmp_path), tmp_path)
    with pytest.raises(ServerNotFoundError, match=r"has no /opt/tritonserver/bin/tritonserver"):
        server.start()
    assert _gone(docker_client, server.container_name)


@pytest.fixture
def image_with_entrypoint_and_no_server(docker_client: Any, docker_image: str) -> Iterator[str]:
    """Like an NGC image (entrypoint script that execs the command) but the binary is gone."""
    builder = docker_client.containers.run(
        docker_image, ["rm", "/opt/tritonserver/bin/tritonserver"], detach=True
    )
    builder.wait()
    tag = "pytest-triton/entrypoint-no-server:test"
    builder.commit(
        repository=tag.split(":")[0],
        tag="test",
        changes=['ENTRYPOINT ["/bin/sh", "-c", "exec \\"$@\\"", "entrypoint"]'],
    )
    builder.remove()
    yield tag
    docker_client.images.remove(tag, force=True)


def test_entrypoint_image_without_tritonserver_is_a_clear_error(
    docker_client: Any,
    image_with_entrypoint_and_no_server: str,
    example_repository: Path,
    tmp_path: Path,
) -> None:
    spec = _spec(image_with_entrypoint_and_no_server, example_repository, tmp_path)
    server = DockerServer(spec, tmp_path)
    with pytest.raises(
        ServerNotFoundError, match=r"has no /opt/tritonserver/bin/tritonserver \(exit code 127\)"
    ):
        server.start()
    assert _gone(docker_client, server.container_name)


def test_gpus_on_an_engine_without_gpu_support_is_a_clear_error(
    docker_client: Any, docker_image: str, example_repository: Path, tmp_path: Path
) -> None:
    if "nvidia" in docker_client.info().get("Runtimes", {}):
        pytest.skip("this engine has the NVIDIA runtime: GPU requests would succeed")
    server = DockerServer(_spec(docker_image, example_repository, tmp_path, gpus="all"), tmp_path)
    with pytest.raises(ServerStartError, match="cannot give containers GPUs.*--triton-gpus none"):
        server.start()
    assert _gone(docker_client, server.container_name)


def test_reaper_removes_only_containers_of_dead_owners_here(
    docker_client: Any, docker_image: str
) -> None:
    dead_proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = Owner.of(dead_proc.pid)
    dead_proc.kill()
    dead_proc.wait()
    alive = Owner.current()
    foreign = Owner(pid=dead.pid, start_ticks=dead.start_ticks, host="another-machine/1")
    containers = {
        role: docker_client.containers.run(
            docker_image,
            ["sleep", "300"],
            detach=True,
            labels=session_labels(f"reap-{role}", owner),
        )
        for role, owner in (("dead", dead), ("alive", alive), ("foreign", foreign))
    }
    try:
        reaped = reap_orphans(docker_client)
        assert containers["dead"].name in reaped
        assert containers["alive"].name not in reaped
        assert containers["foreign"].name not in reaped
        assert _gone(docker_client, containers["dead"].name)
        assert not _gone(docker_client, containers["alive"].name)
        assert not _gone(docker_client, containers["foreign"].name)
    finally:
        for container in containers.values():
            if not _gone(docker_client, container.name):
                container.remove(force=True)


def test_log_tail_is_json_free_plain_text(started: DockerServer) -> None:
    # The engine's log API multiplexes stdout/stderr; the file must hold the plain text.
    tail = started.log_tail(5)
    assert tail
    with pytest.raises(json.JSONDecodeError):
        json.loads(tail.splitlines()[-1])
    assert "\x01\x00\x00\x00" not in tail


def test_interrupt_right_after_create_still_removes_the_container(
    docker_client: Any,
    docker_image: str,
    example_repository: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ctrl-C lands after the engine created the container but before we hold its handle.
    from docker.models.containers import ContainerCollection

    real_create = ContainerCollection.create

    def create_then_interrupt(self: Any, *args: Any, **kwargs: Any) -> Any:
        real_create(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(ContainerCollection, "create", create_then_interrupt)
    server = DockerServer(_spec(docker_image, example_repository, tmp_path), tmp_path)
    with pytest.raises(KeyboardInterrupt):
        server.start()
    assert _gone(docker_client, server.container_name)
    assert server.watchdog_pid is None
