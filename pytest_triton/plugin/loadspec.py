"""Layered load settings -> LoadSpec: option defaults, then @triton_load, then measure() kwargs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from pytest_triton.errors import ConfigError
from pytest_triton.spec import LoadSpec, frozen_mapping

from .options import given_option

# LoadSpec field <- option name; unset options (None) leave the LoadSpec default.
_FROM_OPTIONS = {
    "concurrency": "triton_concurrency",
    "window_s": "triton_window",
    "warmup_s": "triton_warmup",
    "protocol": "triton_protocol",
    "request_rate": "triton_request_rate",
    "rate_distribution": "triton_rate_distribution",
    "max_concurrency": "triton_max_concurrency",
    "batch_size": "triton_batch_size",
    "stability_pct": "triton_stability_pct",
    "measured_windows": "triton_measured_windows",
    "max_trials": "triton_max_trials",
    "block_pairs": "triton_block_pairs",
    "max_window_retries": "triton_max_window_retries",
    "max_step_s": "triton_max_step_s",
    "stability_latency": "triton_stability_latency",
    "window_requests": "triton_window_requests",
    "driver": "triton_load_driver",
    "perf_analyzer_path": "triton_perf_analyzer_path",
}


def option_defaults(config: pytest.Config) -> dict[str, Any]:
    """The load settings given by option or ini, the base layer under markers and kwargs (an
    option the user did not set leaves LoadSpec's default, which its own default equals: so a
    search can tell that no load point was asked for)."""
    return {field: given_option(config, name) for field, name in _FROM_OPTIONS.items()}


def build_load_spec(*layers: Mapping[str, Any]) -> LoadSpec:
    """Later layers win. Raises ConfigError for unknown fields or nonsense values."""
    merged: dict[str, Any] = {}
    for layer in layers:
        given = {k: v for k, v in layer.items() if v is not None}
        # A layer choosing one load mode replaces the other mode of the layers below it: a
        # marker's request_rate beats an ini concurrency. Both in one layer stays a conflict.
        for mode, other in (("request_rate", "concurrency"), ("concurrency", "request_rate")):
            if mode in given and other not in given:
                merged.pop(other, None)
        merged.update(given)
    valid = {f.name for f in dataclasses.fields(LoadSpec)}
    unknown = sorted(set(merged) - valid)
    if unknown:
        raise ConfigError(
            f"unknown load setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}"
        )
    if "concurrency" in merged:
        from pytest_triton.load.points import parse_concurrency

        points, auto = parse_concurrency(merged["concurrency"])
        merged["concurrency"] = points
        merged["auto"] = merged.get("auto", False) or auto
    if merged.get("request_rate") is not None:
        from pytest_triton.load.points import parse_request_rate

        merged["request_rate"] = parse_request_rate(merged["request_rate"])
    if "shapes" in merged:
        merged["shapes"] = _shapes(merged["shapes"])
    spec = LoadSpec(**merged)
    from pytest_triton.load.points import validate_load_spec

    validate_load_spec(spec)
    return spec


def _shapes(value: Any) -> Mapping[str, tuple[int, ...]]:
    """shapes={'INPUT0': [4, 16]}: per input name, a list of whole numbers (a bare `(4)` is the
    number 4, not a shape)."""
    example = "shapes={'INPUT0': [4, 16]}"
    if not isinstance(value, Mapping):
        raise ConfigError(f"shapes must map input names to shapes, e.g. {example}; got {value!r}")
    shapes: dict[str, tuple[int, ...]] = {}
    for name, shape in value.items():
        if isinstance(shape, (str, bytes)) or not isinstance(shape, (list, tuple)):
            raise ConfigError(
                f"shapes[{name!r}] must be a list of dims, e.g. {example}; got {shape!r}"
            )
        if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
            raise ConfigError(
                f"shapes[{name!r}] must hold positive whole numbers, e.g. {example}; got {shape!r}"
            )
        shapes[str(name)] = tuple(shape)
    return frozen_mapping(shapes)
