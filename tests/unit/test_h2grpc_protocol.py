"""The fast gRPC transport (load/h2grpc.py) against a real HTTP/2 peer: python-hyper's `h2`
as a server over a socket, not Triton. Triton exercises the happy path in the integration
tests; these are the parts of RFC 9113 a server can throw at us that Triton rarely does."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

h2_config = pytest.importorskip("h2.config")
h2_connection = pytest.importorskip("h2.connection")
h2_events = pytest.importorskip("h2.events")

import hpack  # noqa: E402  (a dependency of pytest-triton and of h2)

from pytest_triton.load.native.h2grpc import (  # noqa: E402
    CONTINUATION,
    END_HEADERS,
    END_STREAM,
    HEADERS,
    ConnectionLost,
    H2Connection,
    frame,
    grpc_message,
)

OK_HEADERS = [(":status", "200"), ("content-type", "application/grpc")]
# (h2 connection, stream id, request body) -> raw bytes to send after the connection's own
Respond = Callable[[object, int, bytes], "bytes | None"]


class Peer:
    """An HTTP/2 server on 127.0.0.1 that answers each finished request with `respond`."""

    def __init__(self, respond: Respond, settings: dict[int, int] | None = None) -> None:
        self.respond = respond
        self.settings = settings or {}
        self.events: list[object] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        sock, _ = self.listener.accept()
        conn = h2_connection.H2Connection(
            h2_config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        conn.initiate_connection()
        if self.settings:
            conn.update_settings(self.settings)
        sock.sendall(conn.data_to_send())
        bodies: dict[int, bytearray] = {}
        self.conn = conn
        self.sock = sock  # a respond function may send part of its answer early
        while not self._stop.is_set():
            readable, _, _ = select.select([sock], [], [], 0.05)
            if not readable:
                continue
            data = sock.recv(1 << 16)
            if not data:
                break
            if conn.state_machine.state is h2_connection.ConnectionState.CLOSED:
                break  # after our GOAWAY: what the client still sends is not for us
            for event in conn.receive_data(data):
                self.events.append(event)
                if isinstance(event, h2_events.DataReceived):
                    bodies.setdefault(event.stream_id, bytearray()).extend(event.data)
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                if isinstance(event, h2_events.StreamEnded):
                    body = bytes(bodies.pop(event.stream_id, b""))
                    raw = self.respond(conn, event.stream_id, body) or b""
                    sock.sendall(conn.data_to_send() + raw)
            sock.sendall(conn.data_to_send())
        sock.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.listener.close()


@pytest.fixture
def peer() -> Iterator[Callable[..., Peer]]:
    made: list[Peer] = []

    def make(respond: Respond, settings: dict[int, int] | None = None) -> Peer:
        made.append(Peer(respond, settings))
        return made[-1]

    yield make
    for p in made:
        p.close()


def _call(
    client: H2Connection, messages: list[bytes], timeout_s: float = 5.0
) -> list[tuple[int, str | None]]:
    """Send each message as one call and wait until all have finished."""
    for token, message in enumerate(messages):
        client.send(token, message)
    done: list[tuple[int, str | None]] = []
    deadline = time.monotonic() + timeout_s
    while len(done) < len(messages):
        assert time.monotonic() < deadline, f"no answer within {timeout_s} s: {done}"
        client.flush()
        writable = [client.sock] if client.wants_write else []
        readable, _, _ = select.select([client.sock], writable, [], 0.1)
        if readable:
            client.on_readable(done)
    return sorted(done)


def _ok(conn, sid: int, body: bytes) -> None:  # type: ignore[no-untyped-def]
    conn.send_headers(sid, OK_HEADERS)
    conn.send_data(sid, grpc_message(b"response:" + body[5:20]))
    conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)


def test_unary_calls_succeed_and_share_one_connection(peer) -> None:
    server = peer(_ok)
    client = H2Connection("127.0.0.1", server.port)
    assert _call(client, [grpc_message(b"a"), grpc_message(b"b")]) == [(0, None), (1, None)]
    client.close()


def test_a_trailers_only_error_quotes_triton(peer) -> None:
    def fail(conn, sid, body):  # type: ignore[no-untyped-def]
        headers = [*OK_HEADERS, ("grpc-status", "13"), ("grpc-message", "Stub%20is%20unhealthy")]
        conn.send_headers(sid, headers, end_stream=True)

    client = H2Connection("127.0.0.1", peer(fail).port)
    assert _call(client, [grpc_message(b"x")]) == [(0, "grpc-status 13: Stub is unhealthy")]


def test_an_error_split_into_continuation_frames_is_read_whole(peer) -> None:
    """A header block may come as HEADERS without END_HEADERS and CONTINUATION frames (a
    server with a small frame size, or a long message): written here frame by frame."""
    block = hpack.Encoder().encode(
        [(":status", "200"), ("grpc-status", "3"), ("grpc-message", "shape [4] does not fit")]
    )

    def split(conn, sid, body):  # type: ignore[no-untyped-def]
        head, rest = block[:5], block[5:]
        return frame(HEADERS, END_STREAM, sid, head) + frame(CONTINUATION, END_HEADERS, sid, rest)

    client = H2Connection("127.0.0.1", peer(split).port)
    assert _call(client, [grpc_message(b"x")]) == [(0, "grpc-status 3: shape [4] does not fit")]


def test_a_reset_stream_fails_that_call_only(peer) -> None:
    def reset_first(conn, sid, body):  # type: ignore[no-untyped-def]
        if sid == 1:
            conn.reset_stream(sid, error_code=2)
        else:
            _ok(conn, sid, body)

    client = H2Connection("127.0.0.1", peer(reset_first).port)
    done = _call(client, [grpc_message(b"a"), grpc_message(b"b")])
    assert done == [(0, "stream reset by Triton (HTTP/2 error 2)"), (1, None)]


def test_goaway_loses_the_connection(peer) -> None:
    def go_away(conn, sid, body):  # type: ignore[no-untyped-def]
        conn.close_connection(error_code=0, additional_data=b"shutting down")

    client = H2Connection("127.0.0.1", peer(go_away).port)
    with pytest.raises(ConnectionLost, match="GOAWAY .*shutting down"):
        _call(client, [grpc_message(b"x")])


def test_a_ping_is_acknowledged(peer) -> None:
    def ping_then_ok(conn, sid, body):  # type: ignore[no-untyped-def]
        conn.ping(b"12345678")
        _ok(conn, sid, body)

    server = peer(ping_then_ok)
    client = H2Connection("127.0.0.1", server.port)
    _call(client, [grpc_message(b"x")])
    _call(client, [grpc_message(b"y")])  # the ack goes out with the next write
    assert any(isinstance(e, h2_events.PingAckReceived) for e in server.events)


def test_a_request_beyond_the_peers_windows_and_frame_size_waits_for_window_updates(
    peer,
) -> None:
    """300 KB against the RFC's 64 KiB windows and 16 KiB frames: the peer (which enforces
    both) receives it whole, so it was split and sent only as the windows opened."""
    received: list[int] = []

    def count(conn, sid, body):  # type: ignore[no-untyped-def]
        received.append(len(body))
        _ok(conn, sid, body)

    client = H2Connection("127.0.0.1", peer(count).port)
    big = grpc_message(bytes(300_000))
    assert _call(client, [big, big]) == [(0, None), (1, None)]
    assert received == [len(big), len(big)]


def _error_response(text: str) -> bytes:
    """A ModelStreamInferResponse with only its error_message (field 1) set."""
    raw = text.encode()
    return b"\x0a" + bytes((len(raw),)) + raw


def test_a_streaming_call_times_each_response_and_fails_on_an_error_message(peer) -> None:
    """Decoupled models: each request its own ModelStreamInfer call, its responses timed as
    they arrive. Three tokens, the middle two in one DATA frame and the last split across two;
    an error response; and a call the model answered with no response at all."""
    paths: list[str] = []

    def stream(conn, sid, body):  # type: ignore[no-untyped-def]
        conn.send_headers(sid, OK_HEADERS)
        kind = body[5:6]
        if kind == b"t":
            token = grpc_message(b"\x12\x03tok")
            conn.send_data(sid, token)
            server.sock.sendall(conn.data_to_send())
            time.sleep(0.05)  # so the first token arrives before the others
            conn.send_data(sid, token + token[:4])
            conn.send_data(sid, token[4:])
        elif kind == b"e":
            conn.send_data(sid, grpc_message(_error_response("in-stream failure")))
        conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)

    server = peer(stream)
    responses: dict[int, list[int]] = {}
    client = H2Connection("127.0.0.1", server.port, responses=responses)
    done = _call(client, [grpc_message(b"t"), grpc_message(b"e"), grpc_message(b"0")])
    assert done == [(0, None), (1, "in-stream failure"), (2, None)]
    first, *rest = responses[0]
    assert len(rest) == 2 and all(t - first >= 40_000_000 for t in rest)
    assert not responses.get(1) and not responses.get(2)
    for event in server.events:
        if isinstance(event, h2_events.RequestReceived):
            paths.append(dict(event.headers)[":path"])
    assert set(paths) == {"/inference.GRPCInferenceService/ModelStreamInfer"}
