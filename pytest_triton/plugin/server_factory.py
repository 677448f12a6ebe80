"""Options -> ServerSpec -> the Server for this session (local, docker or remote)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_triton.errors import ConfigError
from pytest_triton.server.args import parse_flag_pairs
from pytest_triton.server.base import Server
from pytest_triton.spec import ServerMode, ServerSpec, frozen_mapping

from .options import get_option


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
    return ServerSpec(
        mode=server_mode(config),
        model_repository=get_option(config, "triton_model_repository"),
        server_path=get_option(config, "triton_server_path"),
        image=get_option(config, "triton_image"),
        url=get_option(config, "triton_url"),
        http_url=get_option(config, "triton_http_url"),
        flags=frozen_mapping(flags),
        startup_timeout_s=get_option(config, "triton_startup_timeout"),
        log_dir=log_dir,
    )


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

        return DockerServer(spec, workdir)  # type: ignore[no-any-return]
    from pytest_triton.server.local import LocalServer

    return LocalServer(spec, workdir, fixed_ports(config))
