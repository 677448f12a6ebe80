"""What a search is asked to do, validated: from a marker, triton.search()'s arguments or a
Model Analyzer YAML file, before any server starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_triton.errors import ConfigError
from pytest_triton.judge.tolerance import parse_tolerance
from pytest_triton.search.automatic import AutoBounds
from pytest_triton.search.objectives import Objectives, parse_objectives
from pytest_triton.search.space import LoadSpace, SearchSpaceError, expand_config, parse_load
from pytest_triton.search.strategy import MODES, Mode

# Keyword arguments of @pytest.mark.triton_search and triton.search().
SEARCH_ARGS = (
    "space",
    "parameters",
    "mode",
    "objectives",
    "max_gap_to_best",
    "min_instance_count",
    "max_instance_count",
    "min_model_batch_size",
    "max_model_batch_size",
    "instance_kind",
)
KINDS = ("KIND_CPU", "KIND_GPU", "KIND_AUTO")


@dataclass(frozen=True)
class SearchSettings:
    # config overrides to try (None: the automatic space, built from the model's config)
    configs: tuple[Mapping[str, Any], ...] | None = None
    load: LoadSpace = field(default_factory=LoadSpace)
    mode: Mode = "brute"
    objectives: Objectives = field(default_factory=Objectives)
    max_gap_to_best: float | None = None  # the committed config may trail the best by this
    bounds: AutoBounds = field(default_factory=AutoBounds)
    # of the automatic space's instance groups; None: the kind of the model's own first group
    instance_kind: str | None = None


def search_settings(kwargs: Mapping[str, Any], where: str = "@triton_search") -> SearchSettings:
    """Validate search arguments (SEARCH_ARGS); SearchSpaceError names `where` and the fix."""
    unknown = sorted(set(kwargs) - set(SEARCH_ARGS))
    if unknown:
        raise SearchSpaceError(
            f"{where} got unknown argument(s) {', '.join(unknown)}; valid: {', '.join(SEARCH_ARGS)}"
        )
    space = kwargs.get("space")
    configs = tuple(expand_config(space, f"{where} space")) if space is not None else None
    load = parse_load(kwargs.get("parameters") or {}, where)
    mode = kwargs.get("mode", "brute")
    if mode not in MODES:
        raise SearchSpaceError(f"{where} mode {mode!r}: use one of {', '.join(MODES)}")
    objectives = (
        parse_objectives(kwargs["objectives"], f"{where} objectives")
        if kwargs.get("objectives") is not None
        else Objectives()
    )
    gap = kwargs.get("max_gap_to_best")
    max_gap = None
    if gap is not None:
        try:
            max_gap = parse_tolerance("max_gap_to_best", gap)
        except ConfigError as exc:
            raise SearchSpaceError(f"{where} {exc}") from None
    bounds = AutoBounds(
        _whole(kwargs, "min_instance_count", 1, where),
        _whole(kwargs, "max_instance_count", 5, where),
        _whole(kwargs, "min_model_batch_size", 1, where),
        _whole(kwargs, "max_model_batch_size", 128, where),
    )
    kind = kwargs.get("instance_kind")
    if kind is not None and kind not in KINDS:
        raise SearchSpaceError(f"{where} instance_kind {kind!r}: use one of {', '.join(KINDS)}")
    return SearchSettings(configs, load, mode, objectives, max_gap, bounds, kind)


def _whole(kwargs: Mapping[str, Any], key: str, default: int, where: str) -> int:
    value = kwargs.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SearchSpaceError(f"{where} {key} must be a whole number, got {value!r}")
    return value
