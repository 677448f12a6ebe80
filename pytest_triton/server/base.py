"""The Server protocol every launcher implements, and the endpoints a started server answers on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, TypeVar, runtime_checkable


@dataclass(frozen=True)
class Endpoints:
    """Where a server answers: 'host:port' strings (no scheme), as tritonclient expects them."""

    grpc: str
    http: str
    metrics: str | None = None

    @property
    def metrics_url(self) -> str | None:
        return f"http://{self.metrics}/metrics" if self.metrics else None


@dataclass(frozen=True)
class ServerIdentity:
    """What server we measured: goes into reports and baseline fingerprints."""

    kind: str  # "local", "docker", "remote"
    version: str  # Triton's reported version, e.g. "2.51.0"
    source: str  # binary path, image name or URL
    digest: str = ""  # binary sha256 or image digest; empty when unknown (remote)


@runtime_checkable
class Server(Protocol):
    """A Triton server for one pytest session.

    `start()` returns only when the server is ready and is known to be ours; `stop()` is
    idempotent and never raises for a server that is already gone.
    """

    @property
    def endpoints(self) -> Endpoints: ...

    @property
    def managed(self) -> bool:
        """True when we started the server (and so control all load on it)."""
        ...

    @property
    def log_path(self) -> Path | None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def is_alive(self) -> bool:
        """Our process/container is still running (remote: the server still answers)."""
        ...

    def exit_reason(self) -> str:
        """How a server that is no longer alive ended, as a phrase: 'was killed by SIGKILL',
        'exited with status 1', 'stopped answering at ...'."""
        ...

    def identity(self) -> ServerIdentity: ...

    def log_tail(self, lines: int = 40) -> str: ...


# `with LocalServer(...) as server` is typed as the server, not the mixin (typing.Self needs
# Python 3.11; we support 3.10).
_Context = TypeVar("_Context", bound="ServerContext")


class ServerContext:
    """Mixin giving a Server `with server: ...` semantics."""

    def start(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self: _Context) -> _Context:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def read_log_tail(path: Path | None, lines: int = 40) -> str:
    """The last `lines` lines of a server log, or '' when there is none yet."""
    if path is None or not path.exists():
        return ""
    with path.open("rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 64 * 1024))
        text = f.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


class LogFollower:
    """The lines a log gains from now on (none for a server without a log file)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._offset = path.stat().st_size if path is not None and path.exists() else 0

    def new_lines(self) -> list[str]:
        if self._path is None or not self._path.exists():
            return []
        with self._path.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # whole lines only; the rest is read next time
        self._offset += end
        return data[:end].decode("utf-8", errors="replace").splitlines()
