"""Read-only calls to Triton's HTTP API the engine needs: metadata, config, statistics, liveness.

Plain urllib, so measuring imports no client library for the control plane. Calls are short
(localhost, small JSON) and bounded by a timeout so a stuck server cannot hang a measurement.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException
from typing import Any

from pytest_triton.errors import MeasurementError

TIMEOUT_S = 10.0


def _model_path(model: str, version: str | None) -> str:
    path = f"/v2/models/{urllib.parse.quote(model, safe='')}"
    if version:
        path += f"/versions/{urllib.parse.quote(str(version), safe='')}"
    return path


def get_json(http: str, path: str, timeout_s: float = TIMEOUT_S) -> Any:
    """GET http://<http><path> as JSON; MeasurementError quoting Triton's error otherwise."""
    url = f"http://{http}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        try:
            detail = json.loads(body).get("error", body)
        except ValueError:
            detail = body
        raise MeasurementError(f"GET {path} failed: HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError, ValueError, HTTPException) as exc:
        reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
        raise MeasurementError(f"GET {url} failed: {reason}") from None


def model_config(http: str, model: str, version: str | None) -> dict[str, Any]:
    data: dict[str, Any] = get_json(http, _model_path(model, version) + "/config")
    return data


def model_stats(
    http: str, model: str, version: str | None, timeout_s: float = 5.0
) -> dict[str, Any]:
    data: dict[str, Any] = get_json(http, _model_path(model, version) + "/stats", timeout_s)
    return data


def server_live(http: str, timeout_s: float = 2.0) -> bool:
    """GET /v2/health/live answered 200 (a fallback liveness check when no callable is given)."""
    try:
        with urllib.request.urlopen(f"http://{http}/v2/health/live", timeout=timeout_s) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False
