"""The fast HTTP/1.1 transport (load/http1.py) against a real HTTP/1.1 server (the standard
library's, over a socket): keep-alive, Content-Length and chunked bodies that arrive in pieces,
Triton's JSON errors, and a server that hangs up."""

from __future__ import annotations

import http.server
import select
import threading
import time
from collections.abc import Iterator

import pytest

from pytest_triton.load.native.h2grpc import ConnectionLost
from pytest_triton.load.native.http1 import Http1Connection


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, chunked allowed

    def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/ok":
            self._send(200, b'{"outputs": []}')
        elif self.path == "/chunked":
            self._chunked(200, [b'{"outputs"', b": [", b"]}"])
        elif self.path == "/error":
            self._chunked(400, [b'{"error": "unexpected shape for input ', b"'INPUT0'\"}"])
        elif self.path == "/hang-up":
            self.close_connection = True
            self.connection.close()

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _chunked(self, status: int, parts: list[bytes]) -> None:
        self.send_response(status)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in parts:  # each chunk in its own write, a moment apart: partial reads
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
            time.sleep(0.02)
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _request(path: str) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc".encode()


def _answer(client: Http1Connection, token: int, path: str) -> tuple[int, str | None]:
    client.send(token, _request(path))
    done: list[tuple[int, str | None]] = []
    deadline = time.monotonic() + 5
    while not done:
        assert time.monotonic() < deadline, "no answer within 5 s"
        client.flush()
        readable, _, _ = select.select([client.sock], [], [], 0.1)
        if readable:
            client.on_readable(done)
    (answer,) = done
    return answer


def test_keep_alive_with_sized_and_chunked_bodies_that_arrive_in_pieces(server: str) -> None:
    host, port = server.split(":")
    client = Http1Connection(host, int(port))
    assert _answer(client, 1, "/ok") == (1, None)
    assert _answer(client, 2, "/chunked") == (2, None)
    assert _answer(client, 3, "/ok") == (3, None)  # the same connection, still in step
    assert client.in_flight == 0
    client.close()


def test_an_error_quotes_tritons_json_message(server: str) -> None:
    host, port = server.split(":")
    client = Http1Connection(host, int(port))
    assert _answer(client, 7, "/error") == (7, "HTTP 400: unexpected shape for input 'INPUT0'")
    assert _answer(client, 8, "/ok") == (8, None)


def test_a_server_that_hangs_up_loses_the_connection(server: str) -> None:
    host, port = server.split(":")
    client = Http1Connection(host, int(port))
    with pytest.raises(ConnectionLost, match="closed the connection"):
        _answer(client, 1, "/hang-up")
