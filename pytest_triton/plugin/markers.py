"""Marker registration and strict validation: marker arguments -> frozen core specs.

Validation runs at collection, so a typo in `@pytest.mark.triton_slo(p99=10)` stops the run
before any server starts, with a message that lists the valid arguments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_triton.errors import ConfigError
from pytest_triton.spec import SLO, LoadSpec, ModelSpec, frozen_mapping

SLO_ARGS = tuple(f.name for f in dataclasses.fields(SLO))
LOAD_ARGS = tuple(f.name for f in dataclasses.fields(LoadSpec))
MODEL_ARGS = ("name", "version", "config", "load_timeout")


@dataclass(frozen=True)
class TestSpecs:
    """What a test's markers declare, validated."""

    model: ModelSpec | None
    slo: SLO | None
    load_overrides: Mapping[str, Any]
    search: Mapping[str, Any] | None = None  # @triton_search's arguments, validated


def specs_for(item: pytest.Item, default_load_timeout: float) -> TestSpecs:
    """Validate the item's triton markers; raise ConfigError naming the test and the fix."""
    try:
        return TestSpecs(
            model=_model_spec(item, default_load_timeout),
            slo=_slo(item),
            load_overrides=_load_overrides(item),
            search=_search(item),
        )
    except ConfigError as exc:
        raise ConfigError(f"{item.nodeid}: {exc}") from None


def _model_spec(item: pytest.Item, default_load_timeout: float) -> ModelSpec | None:
    marker = item.get_closest_marker("triton_model")
    if marker is None:
        return None
    kwargs = dict(marker.kwargs)
    if len(marker.args) > 2:
        raise ConfigError("@triton_model takes (name, version=None) positionally")
    for key, value in zip(("name", "version"), marker.args, strict=False):
        if key in kwargs:
            raise ConfigError(f"@triton_model got {key!r} twice")
        kwargs[key] = value
    _reject_unknown("@triton_model", kwargs, MODEL_ARGS)
    name = kwargs.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("@triton_model needs a model name: @pytest.mark.triton_model('my_model')")
    version = kwargs.get("version")
    if version is not None and not (isinstance(version, (int, str)) and str(version).isdigit()):
        raise ConfigError(f"@triton_model version must be a positive integer, got {version!r}")
    override = kwargs.get("config") or {}
    if override:
        from pytest_triton.server.models import validate_config_override

        validate_config_override(name, override)
    timeout = kwargs.get("load_timeout", default_load_timeout)
    _require_positive("@triton_model", "load_timeout", timeout)
    return ModelSpec(
        name=name,
        version=str(version) if version is not None else None,
        config=frozen_mapping(override),
        load_timeout_s=float(timeout),
    )


def _slo(item: pytest.Item) -> SLO | None:
    marker = item.get_closest_marker("triton_slo")
    if marker is None:
        return None
    if marker.args:
        raise ConfigError(
            "@triton_slo takes keyword arguments only, e.g. @pytest.mark.triton_slo(p99_ms=10)"
        )
    return slo_from(marker.kwargs, "@triton_slo")


def slo_from(bounds: Mapping[str, Any], where: str) -> SLO:
    """An SLO from the marker's keyword arguments (or the same given elsewhere), validated."""
    if not isinstance(bounds, Mapping):
        raise ConfigError(f"{where}: an SLO is a mapping of bounds, e.g. {{'p99_ms': 10}}")
    _reject_unknown(where, bounds, SLO_ARGS)
    if not bounds:
        raise ConfigError(f"{where} needs at least one bound: {', '.join(SLO_ARGS)}")
    for key, value in bounds.items():
        _require_positive(where, key, value)
    rate = bounds.get("max_error_rate")
    if rate is not None and rate > 1:
        raise ConfigError(f"{where} max_error_rate is a fraction in [0, 1], got {rate}")
    return SLO(**{k: float(v) for k, v in bounds.items()})


def _load_overrides(item: pytest.Item) -> Mapping[str, Any]:
    marker = item.get_closest_marker("triton_load")
    if marker is None:
        return frozen_mapping()
    if marker.args:
        raise ConfigError("@triton_load takes keyword arguments only, e.g. concurrency=[1, 4]")
    _reject_unknown("@triton_load", marker.kwargs, LOAD_ARGS)
    return frozen_mapping(marker.kwargs)


def _search(item: pytest.Item) -> Mapping[str, Any] | None:
    marker = item.get_closest_marker("triton_search")
    if marker is None:
        return None
    if marker.args:
        raise ConfigError(
            "@triton_search takes keyword arguments only, e.g. "
            "space={'instance_group': [{'count': [1, 2]}]}"
        )
    from pytest_triton.search.settings import search_settings

    settings = search_settings(marker.kwargs)  # raises with what to write instead
    if settings.objectives.needs_gpu() and not item.config.getoption("triton_url", None):
        from pytest_triton.observe.nvml import NvmlReader

        reader = NvmlReader()
        if not reader.available:
            raise ConfigError(
                "@triton_search objective gpu_memory needs GPU memory readings and this "
                f"machine has none ({reader.reason}): drop the objective, or run on a GPU runner"
            )
    return frozen_mapping(marker.kwargs)


def _reject_unknown(where: str, kwargs: Mapping[str, Any], valid: tuple[str, ...]) -> None:
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ConfigError(
            f"{where} got unknown argument(s) {', '.join(unknown)}; valid: {', '.join(valid)}"
        )


def _require_positive(where: str, key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} {key} must be a number, got {value!r}")
    if value < 0 or (value == 0 and key != "max_error_rate"):
        raise ConfigError(f"{where} {key} must be positive, got {value!r}")
