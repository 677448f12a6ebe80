"""Free ephemeral ports on the loopback interface, and a clear error when a fixed one is taken."""

from __future__ import annotations

import socket

from pytest_triton.errors import ConfigError


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports the kernel considers free right now (never 8000-8002 by chance:
    those are below the ephemeral range)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def ensure_free(port: int, host: str = "127.0.0.1") -> None:
    """Raise ConfigError naming the fix if something already listens on `port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"port {port} on {host} is already in use ({exc.strerror}); stop whatever holds "
                "it or drop --triton-ports to let pytest-triton pick free ephemeral ports"
            ) from None
