"""gRPC unary calls over one plaintext HTTP/2 connection, on a non-blocking socket.

Why not grpcio: measured here, a Python grpcio unary call costs ~200 µs of client CPU, so on a
small machine the client, not Triton, becomes the limit (a tritonclient.grpc.aio loop reached
about half of perf_analyzer's throughput on a tiny model). A request to Triton is the same bytes
every time except the stream id, so this module pre-builds them and speaks just enough HTTP/2
(RFC 9113) to send them and notice when each answer ends: ~30 µs per call.

What is implemented: connection preface and SETTINGS (we ask for no HPACK dynamic table, so any
header block can be decoded on its own, and for the largest receive windows so the server never
waits on us), PING and SETTINGS acks, send-side flow control (large tensors are split to fit the
server's windows and frame size), RST_STREAM, GOAWAY, CONTINUATION. Success is "a gRPC message
arrived and the stream ended"; only failures are decoded (hpack) to quote Triton's message.

Streaming (decoupled models): each request is its own ModelStreamInfer call, the request sent
and the call half-closed at once; Triton answers with as many messages as the model sends
responses and ends the call after the last. Each message's arrival time is kept (the first is
the time to first token), and a message carrying an error_message fails the request.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections import deque
from typing import Any

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0, 1, 3, 4, 5, 6, 7, 8, 9,
)  # fmt: skip
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20

MAX_WINDOW = 2**31 - 1
_OUR_SETTINGS = (
    (1, 0),  # HEADER_TABLE_SIZE 0: every response header block decodes on its own
    (2, 0),  # ENABLE_PUSH off
    (4, MAX_WINDOW),  # INITIAL_WINDOW_SIZE: never make the server wait for us per stream
    (5, 1 << 20),  # MAX_FRAME_SIZE: big outputs in few frames
)
_RECV_WINDOW_TOPUP = 1 << 30
INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"
STREAM_PATH = "/inference.GRPCInferenceService/ModelStreamInfer"
# ModelStreamInferResponse: field 1 (error_message, a string) starts a message that failed.
_ERROR_FIELD = 0x0A


class ConnectionLost(Exception):
    """The connection is unusable (closed, reset, GOAWAY): every request on it is lost."""


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return (
        len(payload).to_bytes(3, "big")
        + bytes((kind, flags))
        + stream_id.to_bytes(4, "big")
        + payload
    )


def _hpack_int(value: int, prefix_bits: int, first_byte: int) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first_byte | value,))
    out = bytearray((first_byte | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _hpack_str(text: str) -> bytes:
    raw = text.encode()
    return _hpack_int(len(raw), 7, 0) + raw  # no Huffman: simpler, and built once


def request_header_block(authority: str, path: str = INFER_PATH) -> bytes:
    """HPACK block of a gRPC POST, using only the static table (it never changes)."""
    return b"".join(
        (
            b"\x83",  # :method POST (static index 3)
            b"\x86",  # :scheme http (static index 6)
            _hpack_int(4, 4, 0x00) + _hpack_str(path),  # :path, literal without indexing
            _hpack_int(1, 4, 0x00) + _hpack_str(authority),  # :authority
            _hpack_int(31, 4, 0x00) + _hpack_str("application/grpc"),  # content-type
            b"\x00" + _hpack_str("te") + _hpack_str("trailers"),
        )
    )


def grpc_message(body: bytes) -> bytes:
    """Length-prefixed gRPC message (uncompressed) around a serialized protobuf."""
    return b"\x00" + len(body).to_bytes(4, "big") + body


class _Stream:
    __slots__ = (
        "token", "got_message", "pending", "window", "block", "end_stream", "body", "error"
    )  # fmt: skip

    def __init__(self, token: int, window: int) -> None:
        self.token = token
        self.got_message = False
        self.pending: memoryview | None = None
        self.window = window
        self.block = b""
        self.end_stream = False
        self.body = bytearray()  # streaming: bytes of a message not complete yet
        self.error: str | None = None  # streaming: the first error_message Triton sent


class H2Connection:
    """One HTTP/2 connection carrying many concurrent unary gRPC calls.

    `send(token, message)` starts a call; `on_readable()` returns finished calls as
    (token, error) with error None on success. Writes are buffered and go out on `flush()`,
    so one loop iteration that answers many completions costs one syscall per connection.

    With `responses` given, calls are streaming (module docstring): the arrival time of each
    response message of a call is appended to `responses[token]`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        timeout_s: float = 10.0,
        responses: dict[int, list[int]] | None = None,
    ) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._responses = responses
        path = INFER_PATH if responses is None else STREAM_PATH
        self._header_block = request_header_block(f"{host}:{port}", path)
        self._headers_prefix = len(self._header_block).to_bytes(3, "big") + bytes(
            (HEADERS, END_HEADERS)
        )
        self._next_id = 1
        self._streams: dict[int, _Stream] = {}
        self._blocked: deque[int] = deque()  # streams with data waiting for window
        self._out: list[bytes | memoryview] = []
        self._inbuf = bytearray()
        self._recv_unacked = 0
        # Server settings: RFC defaults until its SETTINGS frame arrives.
        self.max_streams = 100  # conservative until the server says (gRPC servers allow more)
        self._initial_window = 65_535
        self._conn_window = 65_535
        self._max_frame = 16_384
        self._cont_stream = 0  # stream whose header block continues in CONTINUATION frames
        settings = b"".join(k.to_bytes(2, "big") + v.to_bytes(4, "big") for k, v in _OUR_SETTINGS)
        self.sock.sendall(
            PREFACE
            + frame(SETTINGS, 0, 0, settings)
            + frame(WINDOW_UPDATE, 0, 0, (MAX_WINDOW - 65_535).to_bytes(4, "big"))
        )
        self.sock.setblocking(False)

    @property
    def in_flight(self) -> int:
        return len(self._streams)

    @property
    def wants_write(self) -> bool:
        return bool(self._out)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, token: int, message: bytes) -> None:
        """Queue one call; `message` is the length-prefixed gRPC message (see grpc_message)."""
        sid = self._next_id
        self._next_id += 2
        stream = _Stream(token, self._initial_window)
        self._streams[sid] = stream
        sid_bytes = sid.to_bytes(4, "big")
        size = len(message)
        if size <= self._conn_window and size <= stream.window and size <= self._max_frame:
            # The common case: the whole message fits in one DATA frame right now.
            self._conn_window -= size
            stream.window -= size
            self._out.append(
                self._headers_prefix
                + sid_bytes
                + self._header_block
                + size.to_bytes(3, "big")
                + bytes((DATA, END_STREAM))
                + sid_bytes
            )
            self._out.append(message)
            return
        self._out.append(self._headers_prefix + sid_bytes + self._header_block)
        stream.pending = memoryview(message)
        self._pump(sid, stream)

    def _pump(self, sid: int, stream: _Stream) -> None:
        """Send as much of a stream's pending data as the flow-control windows allow."""
        data = stream.pending
        assert data is not None
        sid_bytes = sid.to_bytes(4, "big")
        while len(data):
            chunk = min(len(data), self._conn_window, stream.window, self._max_frame)
            if chunk <= 0:
                stream.pending = data
                if sid not in self._blocked:
                    self._blocked.append(sid)
                return
            last = chunk == len(data)
            self._out.append(
                chunk.to_bytes(3, "big") + bytes((DATA, END_STREAM if last else 0)) + sid_bytes
            )
            self._out.append(data[:chunk])
            data = data[chunk:]
            self._conn_window -= chunk
            stream.window -= chunk
        stream.pending = None

    def _unblock(self) -> None:
        for _ in range(len(self._blocked)):
            sid = self._blocked.popleft()
            stream = self._streams.get(sid)
            if stream is not None and stream.pending is not None:
                self._pump(sid, stream)

    def flush(self) -> None:
        """Write what is queued; what the socket does not take stays queued (wants_write)."""
        out = self._out
        while out:
            try:
                sent = self.sock.sendmsg(out[:512])
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                raise ConnectionLost(f"sending to Triton failed: {exc}") from exc
            while sent:
                head = out[0]
                if sent >= len(head):
                    sent -= len(head)
                    out.pop(0)
                else:
                    out[0] = memoryview(head)[sent:]
                    sent = 0

    def on_readable(self, done: list[tuple[int, str | None]]) -> None:
        """Read what arrived; append finished calls to `done` as (token, error or None)."""
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
        pos = 0
        end = len(buf)
        while end - pos >= 9:
            length = int.from_bytes(buf[pos : pos + 3], "big")
            if end - pos < 9 + length:
                break
            kind = buf[pos + 3]
            flags = buf[pos + 4]
            sid = int.from_bytes(buf[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
            start = pos + 9
            pos = start + length
            if kind == DATA:
                self._recv_unacked += length
                stream = self._streams.get(sid)
                if stream is not None and length > (buf[start] + 1 if flags & PADDED else 0):
                    stream.got_message = True
                    if self._responses is not None:
                        self._on_stream_data(stream, buf, start, pos, flags)
                if flags & END_STREAM and stream is not None:
                    self._finish(sid, stream, done)
            elif kind in (HEADERS, CONTINUATION):
                self._on_headers(kind, flags, sid, bytes(buf[start:pos]), done)
            elif kind == SETTINGS:
                if not flags & ACK:
                    self._on_settings(bytes(buf[start:pos]))
            elif kind == PING:
                if not flags & ACK:
                    self._out.append(frame(PING, ACK, 0, bytes(buf[start:pos])))
            elif kind == WINDOW_UPDATE:
                increment = int.from_bytes(buf[start : start + 4], "big") & 0x7FFFFFFF
                if sid == 0:
                    self._conn_window += increment
                elif sid in self._streams:
                    self._streams[sid].window += increment
                if self._blocked:
                    self._unblock()
            elif kind == RST_STREAM:
                stream = self._streams.pop(sid, None)
                if stream is not None:
                    code = int.from_bytes(buf[start : start + 4], "big")
                    done.append((stream.token, f"stream reset by Triton (HTTP/2 error {code})"))
            elif kind == GOAWAY:
                code = int.from_bytes(buf[start + 4 : start + 8], "big")
                debug = bytes(buf[start + 8 : pos]).decode(errors="replace")
                raise ConnectionLost(f"Triton sent GOAWAY (error {code}) {debug}".strip())
            # PRIORITY, PUSH_PROMISE (disabled) and unknown frame types are ignored (RFC 9113 §4.1)
        del buf[:pos]
        if self._recv_unacked >= _RECV_WINDOW_TOPUP:
            self._out.append(frame(WINDOW_UPDATE, 0, 0, self._recv_unacked.to_bytes(4, "big")))
            self._recv_unacked = 0

    def _on_headers(
        self, kind: int, flags: int, sid: int, payload: bytes, done: list[tuple[int, str | None]]
    ) -> None:
        stream = self._streams.get(sid)
        if kind == HEADERS:
            block = payload
            if flags & PADDED:
                block = block[1 : len(block) - block[0]]
            if flags & PRIORITY:
                block = block[5:]
            if stream is not None:
                stream.end_stream = bool(flags & END_STREAM)
                stream.block = block
        elif stream is not None:
            stream.block += payload
        if not flags & END_HEADERS:
            self._cont_stream = sid
            return
        if stream is not None and stream.end_stream:
            self._finish(sid, stream, done)

    def _on_stream_data(
        self, stream: _Stream, buf: bytearray, start: int, end: int, flags: int
    ) -> None:
        """A streaming call's DATA: time each response message as it completes."""
        if flags & PADDED:
            start, end = start + 1, end - buf[start]
        body = stream.body
        body += buf[start:end]
        if len(body) < 5:
            return
        now = time.monotonic_ns()
        assert self._responses is not None
        times = self._responses.setdefault(stream.token, [])
        while len(body) >= 5:
            size = int.from_bytes(body[1:5], "big")
            if len(body) < 5 + size:
                break
            if size and body[5] == _ERROR_FIELD and stream.error is None:
                stream.error = _stream_error(bytes(body[6 : 5 + size]))
            elif stream.error is None:
                times.append(now)
            del body[: 5 + size]

    def _finish(self, sid: int, stream: _Stream, done: list[tuple[int, str | None]]) -> None:
        del self._streams[sid]
        if stream.error is not None:
            done.append((stream.token, stream.error))
        elif stream.got_message:
            done.append((stream.token, None))
        else:
            error = grpc_error_text(stream.block)
            # A streaming call may end with no response: the model sent none (zero tokens).
            ok = self._responses is not None and error == _ENDED_WITHOUT_MESSAGE
            done.append((stream.token, None if ok else error))

    def _on_settings(self, payload: bytes) -> None:
        for i in range(0, len(payload) - 5, 6):
            key = int.from_bytes(payload[i : i + 2], "big")
            value = int.from_bytes(payload[i + 2 : i + 6], "big")
            if key == 3:
                self.max_streams = value
            elif key == 4:
                delta = value - self._initial_window
                self._initial_window = value
                for stream in self._streams.values():
                    stream.window += delta
            elif key == 5:
                self._max_frame = value
        self._out.append(frame(SETTINGS, ACK, 0))
        if self._blocked:
            self._unblock()


_ENDED_WITHOUT_MESSAGE = "gRPC call ended without a response message"


def _stream_error(field: bytes) -> str:
    """The text of a ModelStreamInferResponse's error_message (its varint length, then UTF-8)."""
    size, shift, i = 0, 0, 0
    while i < len(field):
        byte = field[i]
        i += 1
        size |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return field[i : i + size].decode(errors="replace") or "Triton sent an error response"


def grpc_error_text(block: bytes) -> str:
    """Triton's error from a trailers block: 'grpc-status N: message'."""
    try:
        import hpack

        decoder: Any = hpack.Decoder()
        headers = dict(decoder.decode(block, raw=False))
    except Exception:  # hpack missing or a block we cannot read: say what we know
        return "gRPC call failed (the error text could not be decoded)"
    from urllib.parse import unquote

    status = headers.get("grpc-status", "?")
    message = unquote(headers.get("grpc-message", ""))
    if status == "0":
        return _ENDED_WITHOUT_MESSAGE
    return f"grpc-status {status}: {message}" if message else f"grpc-status {status}"
