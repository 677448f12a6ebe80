"""Measurements and specs <-> plain JSON values, with the fixed number format files are written in.

Baseline files are reviewed in pull requests, so the same data must always give the same bytes:
keys sorted, two-space indent, floats rounded to 4 decimals (0.1 µs for latencies in ms, far
below measurement noise) so `12.345678901` and `12.345678902` do not make a diff. Rounding is
idempotent, so load -> dump reproduces a file byte for byte.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from pytest_triton.result import Measurement, ServerSplit, StepResult, StreamStats, WindowSample
from pytest_triton.spec import SLO, LoadSpec

FLOAT_DECIMALS = 4


def plain(value: Any) -> Any:
    """Any spec/result value as JSON-ready data with normalised numbers.

    Mappings get string keys (JSON has no others), tuples become lists, non-finite floats
    become None (JSON has no NaN; a NaN in a baseline would also poison every comparison).
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        rounded = round(value, FLOAT_DECIMALS)
        return 0.0 if rounded == 0 else rounded  # no "-0.0" in files
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, Path):
        return value.as_posix()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    # numpy scalars and the like: keep the number, not its repr
    if hasattr(value, "item"):
        return plain(value.item())
    return str(value)


def dumps(data: Mapping[str, Any]) -> str:
    """The canonical text of a file: sorted keys, 2-space indent, trailing newline."""
    return (
        json.dumps(plain(data), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
        + "\n"
    )


# ---------------------------------------------------------------------------------------------
# Measurement


def _f(data: Mapping[str, Any], key: str, default: float = 0.0) -> float:
    value = data.get(key)
    return default if value is None else float(value)


def split_from(data: Mapping[str, Any] | None) -> ServerSplit:
    data = data or {}
    return ServerSplit(
        queue_us=_f(data, "queue_us"),
        compute_input_us=_f(data, "compute_input_us"),
        compute_infer_us=_f(data, "compute_infer_us"),
        compute_output_us=_f(data, "compute_output_us"),
        overhead_us=_f(data, "overhead_us"),
        requests=int(data.get("requests") or 0),
    )


def stream_from(data: Mapping[str, Any] | None) -> StreamStats | None:
    """A decoupled model's stream figures (None for any other model); a figure that was NaN
    (no request with two responses has no ITL) is stored as null and read back as NaN."""
    if not data:
        return None
    values = {
        f.name: _f(data, f.name, math.nan)
        for f in dataclasses.fields(StreamStats)
        if f.name != "tokens"
    }
    return StreamStats(tokens=int(data.get("tokens") or 0), **values)


def window_from(data: Mapping[str, Any]) -> WindowSample:
    return WindowSample(
        duration_s=_f(data, "duration_s"),
        requests=int(data.get("requests") or 0),
        errors=int(data.get("errors") or 0),
        throughput=_f(data, "throughput"),
        avg_ms=_f(data, "avg_ms"),
        p50_ms=_f(data, "p50_ms"),
        p90_ms=_f(data, "p90_ms"),
        p95_ms=_f(data, "p95_ms"),
        p99_ms=_f(data, "p99_ms"),
        server=split_from(data.get("server")),
        client_overhead_us=_f(data, "client_overhead_us"),
        stream=stream_from(data.get("stream")),
    )


def step_to_dict(step: StepResult) -> dict[str, Any]:
    data: dict[str, Any] = plain(step)
    data["load_point"] = step.load_point  # what steps are matched by; handy when reading diffs
    # A step that went unserved fails its test and is never a baseline: healthy steps' files
    # stay as they were before these fields existed.
    for name in ("timeouts", "errors_outside", "error_samples"):
        if not data[name]:
            del data[name]
    # Only decoupled models stream, only ensembles and BLS models have composing models: other
    # models' files stay as they were before these existed.
    for part in (data, *data["windows"]):
        if part["stream"] is None:
            del part["stream"]
    if not data["composing"]:
        del data["composing"]
    return data


def step_from(data: Mapping[str, Any]) -> StepResult:
    concurrency = data.get("concurrency")
    rate = data.get("request_rate")
    return StepResult(
        concurrency=None if concurrency is None else int(concurrency),
        request_rate=None if rate is None else float(rate),
        windows=tuple(window_from(w) for w in data.get("windows") or ()),
        stable=bool(data.get("stable", False)),
        throughput=_f(data, "throughput"),
        avg_ms=_f(data, "avg_ms"),
        p50_ms=_f(data, "p50_ms"),
        p90_ms=_f(data, "p90_ms"),
        p95_ms=_f(data, "p95_ms"),
        p99_ms=_f(data, "p99_ms"),
        requests=int(data.get("requests") or 0),
        errors=int(data.get("errors") or 0),
        server=split_from(data.get("server")),
        client_overhead_us=_f(data, "client_overhead_us"),
        client_bound=bool(data.get("client_bound", False)),
        metrics={str(k): float(v) for k, v in (data.get("metrics") or {}).items() if v is not None},
        measured_windows=int(data.get("measured_windows") or 0),
        probe=bool(data.get("probe", False)),
        timeouts=int(data.get("timeouts") or 0),
        errors_outside=int(data.get("errors_outside") or 0),
        error_samples=tuple(str(e) for e in data.get("error_samples") or ()),
        stream=stream_from(data.get("stream")),
        composing={str(k): split_from(v) for k, v in (data.get("composing") or {}).items()},
    )


def measurement_to_dict(measurement: Measurement) -> dict[str, Any]:
    return {
        "model": measurement.model,
        "version": measurement.version,
        "duration_s": plain(measurement.duration_s),
        "capacity": plain(measurement.capacity),
        "notes": list(measurement.notes),
        "extra": plain(measurement.extra),
        "steps": [step_to_dict(s) for s in measurement.steps],
    }


def measurement_from(data: Mapping[str, Any]) -> Measurement:
    version = data.get("version")
    capacity = data.get("capacity")
    return Measurement(
        model=str(data["model"]),
        version=None if version is None else str(version),
        steps=tuple(step_from(s) for s in data.get("steps") or ()),
        duration_s=_f(data, "duration_s"),
        capacity=None if capacity is None else float(capacity),
        notes=tuple(str(n) for n in data.get("notes") or ()),
        extra=dict(data.get("extra") or {}),
    )


def load_spec_dict(load: LoadSpec) -> dict[str, Any]:
    data: dict[str, Any] = plain(load)
    return data


def load_with_defaults(load: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded load with the fields it lacks at their defaults: a record written before a
    LoadSpec field existed was measured with what is now its default."""
    return {**load_spec_dict(LoadSpec()), **load} if load else {}


def slo_dict(slo: SLO) -> dict[str, Any]:
    """Only the bounds that are set: an SLO's meaning is what it gates."""
    return {k: v for k, v in plain(slo).items() if v is not None}
