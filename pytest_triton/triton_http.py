"""The one client for Triton's HTTP API: health, server and model metadata, config, statistics,
the model repository, and the metrics endpoint's text.

Plain urllib, so loading a model or reading statistics imports no client library. Every failure
is one of three exceptions, which callers turn into the error their user needs:
- TimeoutError: no answer within the timeout (a python stub that cannot start hangs a load);
- TritonHTTPError: Triton answered with an error status, and says why;
- TritonUnreachable: nothing answered, or something answered and broke off.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any


class TritonHTTPError(Exception):
    """Triton answered `status` with `message` (its JSON "error" field, or the body)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class TritonUnreachable(Exception):
    """No HTTP answer: refused, dropped, or not HTTP; the text says which."""


def model_path(model: str, version: str | None = None) -> str:
    """/v2/models/<model>[/versions/<version>], quoted."""
    path = f"/v2/models/{_quote(model)}"
    if version:
        path += f"/versions/{_quote(str(version))}"
    return path


def repository_path(model: str, action: str) -> str:
    """/v2/repository/models/<model>/<action> (load, unload), quoted."""
    return f"/v2/repository/models/{_quote(model)}/{action}"


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def call(
    address: str,
    method: str,
    path: str,
    body: Mapping[str, Any] | None = None,
    timeout_s: float = 30.0,
) -> Any:
    """`method` `path` on Triton at 'host:port', JSON in and out ({} for an empty answer)."""
    raw = _exchange(address, method, path, body, timeout_s)
    try:
        return json.loads(raw) if raw else {}
    except ValueError as exc:
        raise TritonUnreachable(f"{method} {path} answered with no JSON: {exc}") from None


def text(address: str, path: str, timeout_s: float = 2.0) -> str:
    """GET `path` as text (the metrics endpoint's Prometheus exposition)."""
    return _exchange(address, "GET", path, None, timeout_s).decode(errors="replace")


def _exchange(
    address: str, method: str, path: str, body: Mapping[str, Any] | None, timeout_s: float
) -> bytes:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://{address}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"} if data is not None else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            raw: bytes = response.read()
            return raw
    except urllib.error.HTTPError as exc:
        raise TritonHTTPError(exc.code, _error_text(exc.read())) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (socket.timeout, TimeoutError)):
            raise TimeoutError() from None
        raise TritonUnreachable(str(exc.reason)) from None
    except TimeoutError:
        raise TimeoutError() from None
    except (http.client.HTTPException, OSError) as exc:
        # e.g. RemoteDisconnected: something answered on the port and hung up
        raise TritonUnreachable(f"{type(exc).__name__}: {exc}") from None


def _error_text(raw: bytes) -> str:
    try:
        return str(json.loads(raw).get("error", raw.decode(errors="replace")))
    except (ValueError, AttributeError):
        return raw.decode(errors="replace")
