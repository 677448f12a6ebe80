"""Options -> ServerSpec -> the Server for this session (local, docker or remote)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_triton.errors import ConfigError
from pytest_triton.server.args import parse_flag_pairs
from pytest_triton.server.base import Server
from pytest_triton.spec import ServerMode, ServerSpec, frozen_mapping

from .options import get_option
from .xdist_split import PER_WORKER, pick_url, visible_gpus, worker_gpus, worker_slot


def server_mode(config: pytest.Config) -> ServerMode:
    url, image = get_option(config, "triton_url"), get_option(config, "triton_image")
    if url and image:
        raise pytest.UsageError(
            "--triton-url (use a running server) and --triton-image (start one in docker) "
            "exclude each other; pick one"
        )
    if url:
        return "remote"
    return "docker" if image else "local"


def server_spec(config: pytest.Config, log_dir: Path) -> ServerSpec:
    flags: dict[str, str] = {}
    for item in get_option(config, "triton_server_flags"):
        flags.update(parse_flag_pairs(item))
    mode = server_mode(config)
    slot = worker_slot(config)  # under pytest-xdist, this worker's share (xdist_split.py)
    env = env_assignments(get_option(config, "triton_env"))
    gpus = get_option(config, "triton_gpus")
    if gpus.strip() == PER_WORKER:
        gpus = worker_gpus(gpus, slot, visible_gpus)
        if mode == "local":
            env.setdefault("CUDA_VISIBLE_DEVICES", gpus)
    return ServerSpec(
        mode=mode,
        model_repository=get_option(config, "triton_model_repository"),
        server_path=get_option(config, "triton_server_path"),
        image=get_option(config, "triton_image"),
        url=pick_url(get_option(config, "triton_url"), slot),
        http_url=pick_url(get_option(config, "triton_http_url"), slot),
        gpus=gpus,
        shm_size=get_option(config, "triton_shm_size"),
        mounts=docker_mounts(config),
        env=frozen_mapping(env),
        flags=frozen_mapping(flags),
        startup_timeout_s=get_option(config, "triton_startup_timeout"),
        log_dir=log_dir,
    )


def env_assignments(items: tuple[str, ...]) -> dict[str, str]:
    """('NAME=VALUE', ...) from --triton-env / triton_env -> mapping; the value may hold '='."""
    env: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
            raise ConfigError(
                f"--triton-env {item!r} is not NAME=VALUE, e.g. --triton-env OMP_NUM_THREADS=1"
            )
        env[name.strip()] = value
    return env


def docker_mounts(config: pytest.Config) -> tuple[str, ...]:
    """--triton-mount values with relative host paths made absolute: from the command line
    against the current directory, from the ini file against the ini file's directory (as the
    ini's other paths), so a checked-in pytest.ini works from anywhere."""
    mounts: tuple[str, ...] = get_option(config, "triton_mount")
    from_cli = bool(config.getoption("triton_mount", default=None))
    base = Path.cwd() if from_cli or config.inipath is None else config.inipath.parent
    resolved = []
    for mount in mounts:
        host, sep, rest = mount.partition(":")
        if sep and host and not Path(host).expanduser().is_absolute():
            mount = f"{(base / host).resolve()}:{rest}"
        resolved.append(mount)
    return tuple(resolved)


def progress_reporter(config: pytest.Config) -> Callable[[str], None]:
    """Progress lines (e.g. an image pull) shown live, even while pytest captures output."""

    def report(message: str) -> None:
        capman = config.pluginmanager.getplugin("capturemanager")
        reporter = config.pluginmanager.getplugin("terminalreporter")
        suspended = capman.global_and_fixture_disabled() if capman else contextlib.nullcontext()
        with suspended:
            if reporter is not None:
                reporter.write_line(f"pytest-triton: {message}")
            else:
                print(f"pytest-triton: {message}", file=sys.stderr, flush=True)

    return report


def fixed_ports(config: pytest.Config) -> tuple[int, int, int] | None:
    text = get_option(config, "triton_ports")
    if not text:
        return None
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 3 or not all(p.isdigit() and 0 < int(p) < 65536 for p in parts):
        raise ConfigError(f"--triton-ports {text!r} must be three ports: HTTP,GRPC,METRICS")
    return int(parts[0]), int(parts[1]), int(parts[2])


def make_server(config: pytest.Config, spec: ServerSpec, workdir: Path) -> Server:
    if spec.mode == "remote":
        from pytest_triton.server.remote import RemoteServer

        return RemoteServer(spec)
    if spec.mode == "docker":
        from pytest_triton.server.docker import DockerServer

        return DockerServer(spec, workdir, progress=progress_reporter(config))
    from pytest_triton.server.local import LocalServer

    return LocalServer(spec, workdir, fixed_ports(config))
