"""Triton's HTTP/REST inference on a keep-alive HTTP/1.1 connection, non-blocking.

Like h2grpc, this exists for overhead: each request is a pre-built byte string (JSON header plus
binary tensors, Triton's binary data extension) and each response is only framed (status line,
Content-Length or chunked), never parsed, unless it is an error whose message we quote.
One request is outstanding per connection (no pipelining: Triton does not promise ordering).
"""

from __future__ import annotations

import contextlib
import json
import socket

from .h2grpc import ConnectionLost


class Http1Connection:
    """Same surface as H2Connection, with capacity one."""

    max_streams = 1

    def __init__(self, host: str, port: int, timeout_s: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self._token: int | None = None
        self._out: list[bytes | memoryview] = []
        self._inbuf = bytearray()

    @property
    def in_flight(self) -> int:
        return 0 if self._token is None else 1

    @property
    def wants_write(self) -> bool:
        return bool(self._out)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, token: int, message: bytes) -> None:
        """Queue one request (`message`: the complete HTTP request bytes)."""
        if self._token is not None:
            raise RuntimeError("HTTP/1.1 connection already has a request in flight")
        self._token = token
        self._out.append(message)

    def flush(self) -> None:
        out = self._out
        while out:
            try:
                sent = self.sock.send(out[0])
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                raise ConnectionLost(f"sending to Triton failed: {exc}") from exc
            if sent >= len(out[0]):
                out.pop(0)
            else:
                out[0] = memoryview(out[0])[sent:]

    def on_readable(self, done: list[tuple[int, str | None]]) -> None:
        try:
            data = self.sock.recv(1 << 18)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            raise ConnectionLost(f"connection to Triton failed: {exc}") from exc
        if not data:
            raise ConnectionLost("Triton closed the connection")
        buf = self._inbuf
        buf += data
        # Fast path for the common answer: 200 with Triton's exact Content-Length header, body
        # skipped without copying it.
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            return
        if buf.startswith(b"HTTP/1.1 200"):
            i = buf.find(b"\r\nContent-Length: ", 0, head_end)
            if i >= 0:
                j = buf.find(b"\r\n", i + 18, head_end + 2)
                end = head_end + 4 + int(buf[i + 18 : j])
                if len(buf) < end:
                    return
                del buf[:end]
                self._complete(None, done)
                return
        response = parse_response(buf)
        if response is None:
            return
        status, body, used = response
        del buf[:used]
        self._complete(None if status == 200 else http_error_text(status, body), done)

    def _complete(self, error: str | None, done: list[tuple[int, str | None]]) -> None:
        token, self._token = self._token, None
        if token is None:
            raise ConnectionLost("Triton answered a request that was not sent")
        done.append((token, error))


def parse_response(buf: bytearray) -> tuple[int, bytes, int] | None:
    """(status, body, bytes used) of the first complete response in `buf`, or None if partial."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(buf[:head_end]).lower()
    try:
        status = int(head[9:12])
    except ValueError as exc:
        raise ConnectionLost(f"not an HTTP response: {bytes(buf[:40])!r}") from exc
    body_start = head_end + 4
    i = head.find(b"\r\ncontent-length:")
    if i >= 0:
        j = head.find(b"\r\n", i + 2)
        length = int(head[i + 17 : j if j >= 0 else len(head)])
        if len(buf) < body_start + length:
            return None
        return status, bytes(buf[body_start : body_start + length]), body_start + length
    if b"\r\ntransfer-encoding: chunked" in head:
        return _parse_chunked(buf, status, body_start)
    return status, b"", body_start  # no body (e.g. 204)


def _parse_chunked(buf: bytearray, status: int, pos: int) -> tuple[int, bytes, int] | None:
    body = bytearray()
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
        pos = line_end + 2
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", pos - 2)
            if trailer_end < 0:
                return None
            return status, bytes(body), trailer_end + 4
        if len(buf) < pos + size + 2:
            return None
        body += buf[pos : pos + size]
        pos += size + 2


def http_error_text(status: int, body: bytes) -> str:
    """Triton's JSON error ({"error": "..."}) or the raw body."""
    try:
        message = json.loads(body.decode(errors="replace")).get("error", "")
    except (ValueError, AttributeError):
        message = body[:200].decode(errors="replace")
    return f"HTTP {status}: {message}" if message else f"HTTP {status}"
