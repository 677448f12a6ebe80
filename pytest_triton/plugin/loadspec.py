"""Layered load settings -> LoadSpec: option defaults, then @triton_load, then measure() kwargs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from pytest_triton.errors import ConfigError
from pytest_triton.spec import LoadSpec, frozen_mapping

from .options import get_option


def option_defaults(config: pytest.Config) -> dict[str, Any]:
    return {
        "concurrency": get_option(config, "triton_concurrency"),
        "window_s": get_option(config, "triton_window"),
        "warmup_s": get_option(config, "triton_warmup"),
        "protocol": get_option(config, "triton_protocol"),
    }


def build_load_spec(*layers: Mapping[str, Any]) -> LoadSpec:
    """Later layers win. Raises ConfigError for unknown fields or nonsense values."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update({k: v for k, v in layer.items() if v is not None})
    valid = {f.name for f in dataclasses.fields(LoadSpec)}
    unknown = sorted(set(merged) - valid)
    if unknown:
        raise ConfigError(
            f"unknown load setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}"
        )
    if "concurrency" in merged:
        from pytest_triton.load.ramp import parse_concurrency

        points, auto = parse_concurrency(merged["concurrency"])
        merged["concurrency"] = points
        merged["auto"] = merged.get("auto", False) or auto
    if "request_rate" in merged:
        rates = merged["request_rate"]
        merged["request_rate"] = tuple(
            float(r) for r in (rates if isinstance(rates, (list, tuple)) else [rates])
        )
    if "shapes" in merged:
        merged["shapes"] = frozen_mapping({k: tuple(v) for k, v in merged["shapes"].items()})
    spec = LoadSpec(**merged)
    from pytest_triton.load.ramp import validate_load_spec

    validate_load_spec(spec)
    return spec
