"""Read-only calls to Triton's HTTP API the engine needs: config, statistics, liveness.

Calls are short (localhost, small JSON) and bounded by a timeout so a stuck server cannot hang a
measurement; a failure is a MeasurementError that names the request.
"""

from __future__ import annotations

from typing import Any

from pytest_triton import triton_http
from pytest_triton.errors import MeasurementError

TIMEOUT_S = 10.0


def get_json(http: str, path: str, timeout_s: float = TIMEOUT_S) -> Any:
    """GET http://<http><path> as JSON; MeasurementError quoting Triton's error otherwise."""
    try:
        return triton_http.call(http, "GET", path, timeout_s=timeout_s)
    except triton_http.TritonHTTPError as exc:
        raise MeasurementError(f"GET {path} failed: HTTP {exc.status}: {exc.message}") from None
    except (triton_http.TritonUnreachable, TimeoutError) as exc:
        reason = str(exc) or f"no answer within {timeout_s:g} s"
        raise MeasurementError(f"GET http://{http}{path} failed: {reason}") from None


def model_config(http: str, model: str, version: str | None) -> dict[str, Any]:
    data: dict[str, Any] = get_json(http, triton_http.model_path(model, version) + "/config")
    return data


def all_model_stats(http: str, timeout_s: float = 5.0) -> dict[str, Any]:
    """Statistics of every loaded model (GET /v2/models/stats)."""
    data: dict[str, Any] = get_json(http, "/v2/models/stats", timeout_s)
    return data


def server_live(http: str, timeout_s: float = 2.0) -> bool:
    """GET /v2/health/live answered 200 (a fallback liveness check when no callable is given)."""
    try:
        triton_http.call(http, "GET", "/v2/health/live", timeout_s=timeout_s)
    except (TimeoutError, triton_http.TritonHTTPError, triton_http.TritonUnreachable):
        return False
    return True
