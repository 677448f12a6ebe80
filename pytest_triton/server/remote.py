"""A Triton server someone else runs (--triton-url). We never start, stop or restart it."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from pytest_triton.errors import ConfigError, ServerStartError
from pytest_triton.server.base import Endpoints, ServerContext, ServerIdentity
from pytest_triton.server.readiness import http_probe, wait_until_ready
from pytest_triton.spec import ServerSpec

UNCONTROLLED_LOAD_WARNING = (
    "pytest-triton is measuring a remote Triton server it does not control: other clients' "
    "load on it will skew latency and throughput, and baselines from it are only as stable as "
    "that server's traffic"
)


# A refused connection is nothing listening, not a server still starting: say so this soon.
REFUSED_FOR_S = 3.0


def _host_port(value: str, what: str) -> tuple[str, int]:
    text = value.split("://", 1)[-1].rstrip("/")
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{what} {value!r} must look like host:port, e.g. localhost:8001")
    if not 1 <= int(port) <= 65535:
        raise ConfigError(f"{what} {value!r}: port {port} is not a TCP port (1-65535)")
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
            self._http_origin = f"--triton-http-url {spec.http_url}"
        else:
            http_host, http_port = host, grpc_port - 1
            self._http_origin = f"the gRPC port of --triton-url {spec.url} minus 1"
            if http_port < 1:
                raise ConfigError(
                    f"--triton-url {spec.url}: the HTTP endpoint defaults to the gRPC port "
                    f"minus 1, which is {http_port}; give it with --triton-http-url host:port"
                )
        self._endpoints = Endpoints(
            grpc=f"{host}:{grpc_port}",
            http=f"{http_host}:{http_port}",
            metrics=f"{http_host}:{http_port + 2}",
        )
        self._timeout = spec.startup_timeout_s
        self._url = spec.url
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
        self._check_listening(self._endpoints.grpc, f"--triton-url {self._url} (gRPC)")
        self._check_listening(self._endpoints.http, f"{self._http_origin} (HTTP)")
        probe = wait_until_ready(
            self._endpoints.http,
            timeout_s=self._timeout,
            is_alive=lambda: True,
            log_tail=lambda: "",
        )
        self._version = probe.version or ""

    @staticmethod
    def _check_listening(address: str, origin: str) -> None:
        """ServerStartError within seconds when connections to `address` are refused."""
        host, _, port = address.rpartition(":")
        deadline = time.monotonic() + REFUSED_FOR_S
        while True:
            try:
                socket.create_connection((host.strip("[]"), int(port)), timeout=2.0).close()
                return
            except ConnectionRefusedError:
                if time.monotonic() >= deadline:
                    raise ServerStartError(
                        f"nothing is listening at {address}, from {origin}: connection "
                        "refused. Start the server, or fix --triton-url / --triton-http-url"
                    ) from None
            except OSError:
                return  # unreachable or slow: readiness waits for it, up to its timeout
            time.sleep(0.2)

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
