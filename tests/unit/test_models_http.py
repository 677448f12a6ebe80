"""Failures talking to Triton's HTTP API are one clear error naming the server and request."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from pytest_triton.errors import MeasurementError, ModelLoadError
from pytest_triton.load.server_reads import model_config
from pytest_triton.server.models import ModelController
from pytest_triton.spec import ModelSpec


@pytest.fixture
def hangs_up() -> Iterator[str]:
    """A real socket peer that reads a request and closes the connection without answering
    (http.client raises RemoteDisconnected), as a process that took Triton's port might."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    server.close()


def test_a_load_the_server_hangs_up_on_is_a_model_load_error(hangs_up: str) -> None:
    """It was a raw http.client.RemoteDisconnected traceback at test setup."""
    with pytest.raises(ModelLoadError) as caught:
        ModelController(hangs_up, None).load(ModelSpec("tiny"))
    message = str(caught.value)
    assert f"Triton at {hangs_up} did not answer POST /v2/repository/models/tiny/load" in message
    assert "RemoteDisconnected" in message and "Run the session again" in message


def test_a_read_the_server_hangs_up_on_is_a_measurement_error(hangs_up: str) -> None:
    with pytest.raises(MeasurementError, match=f"GET http://{hangs_up}/v2/models/tiny/config"):
        model_config(hangs_up, "tiny", None)
