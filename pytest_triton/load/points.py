"""Load points: parse what users write (options, ini, markers) and check a LoadSpec before load.

Everything here is pure and cheap so the plugin can call it at collection time: a nonsense range
fails the test before a server starts, not ten minutes into a ramp.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_triton.errors import ConfigError
from pytest_triton.spec import LoadSpec

LATENCY_STATS = ("avg", "p50", "p90", "p95", "p99")
# A doubling ramp never goes past this, whatever max_concurrency says: Model Analyzer's limit.
CONCURRENCY_LIMIT = 1024

_RANGE_HELP = (
    "give concurrency as an int, a list like [1, 4, 8] or '1,4,8', a range "
    "{'start': 1, 'stop': 16, 'step': 4} or '1:16:4', or 'auto'"
)


def parse_concurrency(value: Any) -> tuple[tuple[int, ...], bool]:
    """A concurrency value as (load points, auto).

    Accepts 4, "4", "1,2,4", [1, 2, 4], "auto", a Model Analyzer style range
    {"start": 1, "stop": 8, "step": 1} (stop inclusive, additive step) or the perf_analyzer
    spelling "1:8:1". `auto` returns no fixed points: the ramp is generated while measuring.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "auto":
            return (), True
        if ":" in text:
            parts = text.split(":")
            if len(parts) not in (2, 3):
                raise ConfigError(f"concurrency range {value!r} must be start:stop[:step]")
            keys = ("start", "stop", "step")
            return _expand_range(dict(zip(keys, parts, strict=False)), value), False
        items: list[Any] = [p for p in text.replace(" ", "").split(",") if p]
        if not items:
            raise ConfigError(f"empty concurrency {value!r}; {_RANGE_HELP}")
        return _check_points(items, value), False
    if isinstance(value, Mapping):
        if set(value) == {"auto"} or value.get("auto") is True:
            return (), True
        return _expand_range(value, value), False
    if isinstance(value, bool):
        raise ConfigError(f"concurrency {value!r} is not a number; {_RANGE_HELP}")
    if isinstance(value, int):
        return _check_points([value], value), False
    if isinstance(value, (list, tuple)):
        if not value:
            raise ConfigError(f"empty concurrency list; {_RANGE_HELP}")
        return _check_points(list(value), value), False
    raise ConfigError(f"concurrency {value!r} of type {type(value).__name__}; {_RANGE_HELP}")


def parse_request_rate(value: Any) -> tuple[float, ...]:
    """Request rates (infer/s) from 100, "100", "50,100", [50, 100] or {start, stop, step}."""
    if isinstance(value, str):
        text = value.strip()
        if ":" in text:
            parts = text.split(":")
            return _expand_rate_range(dict(zip(("start", "stop", "step"), parts, strict=False)))
        items = [p for p in text.replace(" ", "").split(",") if p]
        return _check_rates(items, value)
    if isinstance(value, Mapping):
        return _expand_rate_range(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _check_rates([value], value)
    if isinstance(value, (list, tuple)):
        return _check_rates(list(value), value)
    raise ConfigError(f"request rate {value!r}: give a number, a list or a start:stop:step range")


def doubling(max_concurrency: int, start: int = 1) -> tuple[int, ...]:
    """The auto ramp's candidate points: start, 2*start, ... up to max (max itself included)."""
    points: list[int] = []
    c = max(1, start)
    limit = min(max_concurrency, CONCURRENCY_LIMIT)
    while c < limit:
        points.append(c)
        c *= 2
    points.append(limit)
    return tuple(points)


def judged_latency(load: LoadSpec, slo_bounds: Mapping[str, float] | None = None) -> str:
    """The latency statistic stability is judged on.

    An explicit `stability_latency` wins; else the tail the SLO bounds (p99 before p95 ...),
    because that is the number the gate reads; else the average, as perf_analyzer does: tail
    percentiles of short windows are too noisy to stabilise without a reason to.
    """
    if load.stability_latency:
        return load.stability_latency
    for stat in ("p99", "p95", "p90", "p50", "avg"):
        if slo_bounds and stat in slo_bounds:
            return stat
    return "avg"


def validate_load_spec(load: LoadSpec) -> None:
    """Raise ConfigError for a LoadSpec that cannot be measured; checks nothing on the server."""
    problems: list[str] = []
    if load.request_rate:
        if load.auto:
            problems.append("request_rate and concurrency='auto' exclude each other: pick one mode")
        elif load.concurrency not in ((), (1,)):
            problems.append(
                f"request_rate {list(load.request_rate)} and concurrency {list(load.concurrency)} "
                "exclude each other: open-loop (rate) or closed-loop (concurrency), not both"
            )
        for r in load.request_rate:
            if not (isinstance(r, (int, float)) and math.isfinite(r) and r > 0):
                problems.append(f"request rate {r!r} must be a positive number of infer/s")
    elif not load.auto and not load.concurrency:
        problems.append(f"no concurrency given; {_RANGE_HELP}")
    for c in load.concurrency:
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            problems.append(f"concurrency {c!r} must be an integer >= 1")
        elif c > CONCURRENCY_LIMIT * 16:
            problems.append(f"concurrency {c} is beyond what one client can hold open")
    _check(
        problems, load.max_concurrency >= 1, f"max_concurrency {load.max_concurrency} must be >= 1"
    )
    _check(
        problems,
        load.rate_distribution in ("constant", "poisson"),
        f"rate_distribution {load.rate_distribution!r} must be 'constant' or 'poisson'",
    )
    _check(problems, load.protocol in ("grpc", "http"), f"protocol {load.protocol!r}: grpc or http")
    _check(
        problems,
        load.driver in ("native", "perf_analyzer"),
        f"driver {load.driver!r} must be 'native' or 'perf_analyzer'",
    )
    _check(problems, load.batch_size >= 1, f"batch_size {load.batch_size} must be >= 1")
    if load.shared_memory not in ("none", "system"):
        problems.append(
            f"shared_memory {load.shared_memory!r}: 'system' or 'none' (CUDA shared memory "
            "is not supported yet)"
        )
    elif load.shared_memory == "system" and (load.protocol != "grpc" or load.driver != "native"):
        problems.append("shared_memory='system' needs protocol='grpc' and the native driver")
    _check(problems, load.max_step_s > 0, f"max_step_s {load.max_step_s} must be > 0")
    _check(
        problems,
        load.sequence_length >= 1,
        f"sequence_length {load.sequence_length} must be >= 1",
    )
    _check(
        problems,
        0 <= load.sequence_length_variation < 100,
        f"sequence_length_variation {load.sequence_length_variation} is a percentage in [0, 100)",
    )
    if load.prompts is not None or load.output_tokens is not None:
        from .prompts import validate_text_load

        try:
            validate_text_load(load)
        except ConfigError as exc:
            problems.append(str(exc))
    _check(problems, load.warmup_s >= 0, f"warmup_s {load.warmup_s} must be >= 0")
    _check(problems, load.window_s > 0, f"window_s {load.window_s} must be > 0")
    _check(
        problems,
        load.window_requests is None or load.window_requests >= 1,
        f"window_requests {load.window_requests} must be >= 1 (or unset for time windows)",
    )
    _check(
        problems,
        0 < load.stability_pct < 100,
        f"stability_pct {load.stability_pct} must be within (0, 100)",
    )
    _check(
        problems,
        load.max_trials >= 3,
        f"max_trials {load.max_trials} must be >= 3: stability compares the last 3 windows",
    )
    _check(
        problems,
        load.measured_windows >= 3,
        f"measured_windows {load.measured_windows} must be >= 3: stability needs the last 3",
    )
    _check(
        problems,
        load.max_trials >= load.measured_windows,
        f"max_trials {load.max_trials} must be >= measured_windows {load.measured_windows}: "
        "raise max_trials",
    )
    _check(
        problems,
        load.driver != "perf_analyzer" or load.measured_windows == 3,
        f"measured_windows {load.measured_windows} needs the native driver: perf_analyzer "
        "always reports its last 3 windows",
    )
    _check(
        problems,
        load.block_pairs >= 4 and load.block_pairs % 4 == 0,
        f"block_pairs {load.block_pairs} must be a multiple of 4 (paired blocks run in rounds "
        "of 4 pairs, B C B C C B C B)",
    )
    _check(problems, load.max_window_retries >= 0, "max_window_retries must be >= 0")
    _check(problems, load.plateau_steps >= 2, f"plateau_steps {load.plateau_steps} must be >= 2")
    _check(problems, load.plateau_gain_pct >= 0, "plateau_gain_pct must be >= 0")
    _check(problems, load.processes >= 0, "processes must be >= 0 (0: automatic)")
    _check(problems, load.max_outstanding >= 1, "max_outstanding must be >= 1")
    _check(problems, load.request_timeout_s > 0, "request_timeout_s must be > 0")
    _check(
        problems,
        load.stability_latency in (None, *LATENCY_STATS),
        f"stability_latency {load.stability_latency!r} must be one of {', '.join(LATENCY_STATS)}",
    )
    for name, shape in load.shapes.items():
        dims = tuple(shape)
        if not dims or any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in dims):
            problems.append(f"shape for input {name!r} {list(dims)} must be non-negative integers")
    pa_data_ok = load.input_data in ("random", "zero") or str(load.input_data).endswith(".json")
    if load.driver == "perf_analyzer" and not pa_data_ok:
        problems.append("driver perf_analyzer takes input_data 'random', 'zero' or a .json file")
    if problems:
        raise ConfigError("invalid load settings: " + "; ".join(problems))


def _check(problems: list[str], ok: bool, message: str) -> None:
    if not ok:
        problems.append(message)


def _as_int(value: Any, what: str, original: Any) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{what} {value!r} in concurrency {original!r} is not an integer")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{what} {value!r} in concurrency {original!r} is not an integer; {_RANGE_HELP}"
        ) from None
    if not number.is_integer():
        raise ConfigError(f"{what} {value!r} in concurrency {original!r} is not an integer")
    return int(number)


def _check_points(items: Iterable[Any], original: Any) -> tuple[int, ...]:
    points = tuple(_as_int(v, "value", original) for v in items)
    bad = [p for p in points if p < 1]
    if bad:
        raise ConfigError(
            f"concurrency {original!r}: {bad[0]} outstanding requests measures nothing; "
            "concurrency must be >= 1"
        )
    return points


def _expand_range(spec: Mapping[str, Any], original: Any) -> tuple[int, ...]:
    unknown = set(spec) - {"start", "stop", "step"}
    if unknown or "start" not in spec:
        raise ConfigError(
            f"concurrency range {original!r} needs 'start' (and 'stop', 'step'); got keys "
            f"{sorted(map(str, spec))}"
        )
    start = _as_int(spec["start"], "start", original)
    stop = _as_int(spec.get("stop", start), "stop", original)
    step = _as_int(spec.get("step", 1), "step", original)
    if start < 1:
        raise ConfigError(f"concurrency range {original!r}: start {start} must be >= 1")
    if stop < start:
        raise ConfigError(f"concurrency range {original!r}: stop {stop} is below start {start}")
    if step < 1:
        raise ConfigError(f"concurrency range {original!r}: step {step} must be >= 1")
    return tuple(range(start, stop + 1, step))


def _check_rates(items: Iterable[Any], original: Any) -> tuple[float, ...]:
    rates: list[float] = []
    for v in items:
        try:
            rate = float(v)
        except (TypeError, ValueError):
            raise ConfigError(f"request rate {v!r} in {original!r} is not a number") from None
        if not (math.isfinite(rate) and rate > 0):
            raise ConfigError(f"request rate {v!r} in {original!r} must be > 0 infer/s")
        rates.append(rate)
    if not rates:
        raise ConfigError(f"empty request rate {original!r}")
    return tuple(rates)


def _expand_rate_range(spec: Mapping[str, Any]) -> tuple[float, ...]:
    try:
        start = float(spec["start"])
        stop = float(spec.get("stop", start))
        step = float(spec.get("step", 1.0))
    except (KeyError, TypeError, ValueError):
        raise ConfigError(
            f"request rate range {dict(spec)!r} needs numeric start, stop, step"
        ) from None
    if start <= 0:
        raise ConfigError(f"request rate range: start {start:g} must be > 0")
    if stop < start:
        raise ConfigError(f"request rate range: stop {stop:g} is below start {start:g}")
    if step <= 0:
        raise ConfigError(f"request rate range: step {step:g} must be > 0")
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    if count > 10_000:
        raise ConfigError(f"request rate range gives {count} points; use a coarser step")
    return tuple(round(start + i * step, 9) for i in range(count))
