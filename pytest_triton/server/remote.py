"""A Triton server someone else runs (--triton-url). We never start, stop or restart it."""

from __future__ import annotations

from pathlib import Path

from pytest_triton.errors import ConfigError
from pytest_triton.server.base import Endpoints, ServerContext, ServerIdentity
from pytest_triton.server.readiness import http_probe, wait_until_ready
from pytest_triton.spec import ServerSpec

UNCONTROLLED_LOAD_WARNING = (
    "pytest-triton is measuring a remote Triton server it does not control: other clients' "
    "load on it will skew latency and throughput, and baselines from it are only as stable as "
    "that server's traffic"
)


def _host_port(value: str, what: str) -> tuple[str, int]:
    text = value.split("://", 1)[-1].rstrip("/")
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{what} {value!r} must look like host:port, e.g. localhost:8001")
    return host, int(port)


class RemoteServer(ServerContext):
    """Endpoints of a running server. `--triton-url` is gRPC; HTTP defaults to its port - 1,
    Triton's default layout (8000 HTTP, 8001 gRPC, 8002 metrics)."""

    def __init__(self, spec: ServerSpec) -> None:
        if not spec.url:
            raise ConfigError("remote mode needs --triton-url host:port (the gRPC endpoint)")
        host, grpc_port = _host_port(spec.url, "--triton-url")
        if spec.http_url:
            http_host, http_port = _host_port(spec.http_url, "--triton-http-url")
        else:
            http_host, http_port = host, grpc_port - 1
        self._endpoints = Endpoints(
            grpc=f"{host}:{grpc_port}",
            http=f"{http_host}:{http_port}",
            metrics=f"{http_host}:{http_port + 2}",
        )
        self._timeout = spec.startup_timeout_s
        self._version = ""

    @property
    def endpoints(self) -> Endpoints:
        return self._endpoints

    @property
    def managed(self) -> bool:
        return False

    @property
    def log_path(self) -> Path | None:
        return None

    def start(self) -> None:
        probe = wait_until_ready(
            self._endpoints.http,
            timeout_s=self._timeout,
            is_alive=lambda: True,
            log_tail=lambda: "",
        )
        self._version = probe.version or ""

    def stop(self) -> None:
        """Nothing to stop: the server is not ours."""

    def is_alive(self) -> bool:
        return http_probe(self._endpoints.http).ready

    def exit_reason(self) -> str:
        return f"stopped answering at {self._endpoints.http}"

    def identity(self) -> ServerIdentity:
        return ServerIdentity(kind="remote", version=self._version, source=self._endpoints.grpc)

    def log_tail(self, lines: int = 40) -> str:
        return ""
