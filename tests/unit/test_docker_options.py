"""Docker mode option handling, without an engine: GPUs, mounts, shm size, the container plan."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pytest_triton.errors import ConfigError
from pytest_triton.server.container_plan import (
    CONTAINER_BINARY,
    CONTAINER_MODELS,
    device_requests,
    gpu_device_ids,
    gpus_flag,
    parse_mount,
    plan_container,
)
from pytest_triton.spec import ServerSpec, frozen_mapping

docker = pytest.importorskip("docker", reason="the docker extra is not installed")


# -- GPUs ---------------------------------------------------------------------------------------


def test_all_gpus_is_one_request_for_every_gpu() -> None:
    (request,) = device_requests("all")
    assert request["Count"] == -1
    assert request["Capabilities"] == [["gpu"]]
    assert not request.get("DeviceIDs")
    assert gpus_flag("all") == "all"


@pytest.mark.parametrize("value", ["none", "", "  ", "NONE"])
def test_no_gpus_is_no_request(value: str) -> None:
    assert device_requests(value) == []
    assert gpus_flag(value) is None


def test_gpu_ids_are_requested_by_id() -> None:
    (request,) = device_requests("0, 1")
    assert request["DeviceIDs"] == ["0", "1"]
    assert request["Capabilities"] == [["gpu"]]
    assert request["Count"] == 0
    assert gpus_flag("0,1") == '"device=0,1"'


def test_gpu_uuids_are_accepted() -> None:
    uuid = "GPU-6f1c2a3b-1234-5678-9abc-def012345678"
    assert gpu_device_ids(uuid) == [uuid]


@pytest.mark.parametrize("value", ["gpu0", "0,,1", "1;2", "-1"])
def test_bad_gpu_values_name_the_culprit(value: str) -> None:
    with pytest.raises(ConfigError, match=r"--triton-gpus .*nvidia-smi -L"):
        gpu_device_ids(value)


# -- mounts -------------------------------------------------------------------------------------


def test_mount_defaults_to_rw_like_docker_run(tmp_path: Path) -> None:
    mount = parse_mount(f"{tmp_path}:/data")
    assert (mount.source, mount.target, mount.read_only) == (tmp_path, "/data", False)


def test_mount_read_only_and_relative_host_path(tmp_path: Path) -> None:
    (tmp_path / "engines").mkdir()
    mount = parse_mount("engines:/engines:ro", base=tmp_path)
    assert mount.source == tmp_path / "engines"
    assert mount.read_only
    assert mount.as_volume_arg() == f"{tmp_path / 'engines'}:/engines:ro"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/data", "is not 'host_path:container_path"),
        ("/a:/b:ro:extra", "is not 'host_path:container_path"),
        (":/data", "is not 'host_path:container_path"),
        ("{tmp}:relative", "must be absolute"),
        ("{tmp}:/data:rx", "mode must be 'ro' or 'rw'"),
        ("{tmp}:/models", "where the model repository is mounted"),
        ("{tmp}:/models/sub:ro", "where the model repository is mounted"),
        ("{tmp}/missing:/data", "does not exist"),
    ],
)
def test_bad_mounts_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_mount(text.format(tmp=tmp_path))


def test_models_prefix_is_not_a_collision(tmp_path: Path) -> None:
    assert parse_mount(f"{tmp_path}:/models2").target == "/models2"


# -- the plan -----------------------------------------------------------------------------------


def _spec(tmp_path: Path, **kwargs: object) -> ServerSpec:
    repo = tmp_path / "repo"
    repo.mkdir(exist_ok=True)
    values: dict[str, object] = {"mode": "docker", "image": "img:1", "model_repository": repo}
    values.update(kwargs)
    return ServerSpec(**values)  # type: ignore[arg-type]


LABELS = {"org.pytest-triton.session": "abc"}


def test_plan_binds_inside_publishes_on_loopback_and_mounts_models_read_only(
    tmp_path: Path,
) -> None:
    plan = plan_container(_spec(tmp_path, flags=frozen_mapping({"log_verbose": 1})), "n", LABELS)
    kwargs = plan.create_kwargs()
    assert kwargs["ports"] == {
        "8000/tcp": ("127.0.0.1", None),
        "8001/tcp": ("127.0.0.1", None),
        "8002/tcp": ("127.0.0.1", None),
    }
    assert kwargs["privileged"] is False
    assert kwargs["labels"] == LABELS
    assert kwargs["device_requests"] == []
    (models,) = kwargs["mounts"]
    assert models["Target"] == CONTAINER_MODELS
    assert models["Source"] == str(tmp_path / "repo")
    assert models["ReadOnly"] is True
    command = kwargs["command"]
    assert command[0] == CONTAINER_BINARY
    assert "--http-address=0.0.0.0" in command
    assert "--grpc-address=0.0.0.0" in command
    assert "--metrics-address=0.0.0.0" in command
    assert f"--model-repository={CONTAINER_MODELS}" in command
    assert "--model-control-mode=explicit" in command
    assert "--id=n" in command
    assert "--log-verbose=1" in command


def test_plan_carries_env_shm_gpus_and_extra_mounts(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        env=frozen_mapping({"OMP_NUM_THREADS": "1"}),
        shm_size="1G",
        gpus="all",
        mounts=(f"{tmp_path}:/cache:rw",),
    )
    kwargs = plan_container(spec, "n", LABELS).create_kwargs()
    assert kwargs["environment"] == {"OMP_NUM_THREADS": "1"}
    assert kwargs["shm_size"] == "1g"
    assert kwargs["device_requests"][0]["Count"] == -1
    assert [(m["Target"], m["ReadOnly"]) for m in kwargs["mounts"]] == [
        ("/models", True),
        ("/cache", False),
    ]


def test_docker_run_line_is_the_same_container(tmp_path: Path) -> None:
    plan = plan_container(_spec(tmp_path, gpus="0"), "n", LABELS)
    argv = plan.docker_run_argv()
    assert argv[:3] == ["docker", "run", "--rm"]
    assert argv[argv.index("--gpus") : argv.index("--gpus") + 2] == ["--gpus", '"device=0"']
    assert "-p=127.0.0.1::8001" in argv
    assert f"-v={tmp_path / 'repo'}:/models:ro" in argv
    assert "--privileged" not in argv
    image_at = argv.index("img:1")
    assert argv[image_at + 1 :] == plan.command


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image": None}, "needs an image"),
        ({"model_repository": None}, "needs a model repository"),
        ({"model_repository": Path("/nonexistent/repo")}, "does not exist"),
        ({"shm_size": "lots"}, "--triton-shm-size 'lots' is not a size"),
        ({"gpus": "first"}, "--triton-gpus"),
        ({"flags": frozen_mapping({"http-port": "9"})}, "set by pytest-triton itself"),
    ],
)
def test_plan_rejects_bad_options_before_any_engine_call(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_container(_spec(tmp_path, **kwargs), "n", LABELS)


def test_duplicate_mount_targets_are_rejected(tmp_path: Path) -> None:
    spec = _spec(tmp_path, mounts=(f"{tmp_path}:/x", f"{tmp_path}:/x/:ro"))
    with pytest.raises(ConfigError, match="/x is mounted more than once"):
        plan_container(spec, "n", LABELS)


def test_docker_run_line_quotes_for_the_shell(tmp_path: Path) -> None:
    line = plan_container(_spec(tmp_path, gpus="0,1"), "n", LABELS).docker_run_line()
    assert "--gpus '\"device=0,1\"'" in line


def test_missing_sdk_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_triton.server.docker import DockerServer

    server = DockerServer(_spec(tmp_path), tmp_path)  # building a server needs no SDK
    monkeypatch.setitem(sys.modules, "docker", None)  # what `import docker` sees when missing
    with pytest.raises(ConfigError, match=r"pip install 'pytest-triton\[docker\]'"):
        server.start()
