"""One search: its candidate points, each measured through a callback, then ranked.

A point is a config override plus the batch size requests carry (Model Analyzer's
`batch_sizes` is a dimension of the space like any config field). The model's own config,
as committed, is always measured too: it is what the winner's gain is stated against, and
what `max_gap_to_best` gates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from pytest_triton.result import Measurement, StepResult
from pytest_triton.search.automatic import automatic_space
from pytest_triton.search.legality import skip_reason
from pytest_triton.search.result import SearchResult, rank
from pytest_triton.search.settings import SearchSettings
from pytest_triton.search.space import is_map_field
from pytest_triton.search.strategy import Trial, run
from pytest_triton.server.models import effective_config
from pytest_triton.spec import SLO


class ConfigSkipped(Exception):
    """A config the server would not serve (its load failed): the reason goes in the table."""


# Measures one point: (its index in the space, config override, batch size or None for the
# test's own, True for only a look: its probe ramp, the probes of an earlier look to start
# the ramp from). Raises ConfigSkipped for a config that cannot be measured.
MeasurePoint = Callable[
    [int, Mapping[str, Any], int | None, bool, Sequence[StepResult]], Measurement
]


def points(settings: SearchSettings, base: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The space's points, in order: each config at each batch size."""
    groups = base.get("instance_group") or [{}]
    kind = settings.instance_kind or str(groups[0].get("kind") or "KIND_CPU")
    configs = (
        settings.configs
        if settings.configs is not None
        else automatic_space(base, settings.bounds, kind)
    )
    sizes: tuple[int | None, ...] = settings.load.batch_sizes or (None,)
    return [{"config": dict(c), "batch_size": b} for c in configs for b in sizes]


def search(
    settings: SearchSettings,
    model: str,
    base: Mapping[str, Any],
    slo: SLO | None,
    measure: MeasurePoint,
    progress: Callable[[Trial, int], None] | None = None,
    can_look: bool = False,
) -> SearchResult:
    """Run the search; `base` is the model's own (effective) config. `can_look`: configs are
    measured with the auto ramp, so quick can climb on looks (search/strategy.py)."""
    started = time.monotonic()
    space = points(settings, base)
    own = _own_point(space, base, settings)
    if own is None:  # not in the space: measured besides, as the last point
        space.append({"config": {}, "batch_size": (settings.load.batch_sizes or (None,))[0]})
        own = len(space) - 1

    def evaluate(
        index: int,
        point: Mapping[str, Any],
        look: bool = False,
        probes: Sequence[StepResult] = (),
    ) -> Trial:
        effective = effective_config(base, point["config"], model)
        why = skip_reason(effective, base, point["batch_size"] or 1)
        if why is None:
            try:
                measured = measure(index, point["config"], point["batch_size"], look, probes)
                trial = (
                    Trial(index, point, measured)
                    if not look
                    else Trial(index, point, look=measured)
                )
            except ConfigSkipped as exc:
                trial = Trial(index, point, skipped=str(exc))
        else:
            trial = Trial(index, point, skipped=why)
        if progress is not None:
            progress(trial, len(space))
        return trial

    def screen(index: int, point: Mapping[str, Any]) -> Trial:
        return evaluate(index, point, look=True)

    def finish(trial: Trial) -> Trial:
        # a looked-at config measured to stability: its ramp goes on from the look's probes
        probes = trial.look.steps if trial.look is not None else ()
        return replace(evaluate(trial.index, trial.point, probes=probes), look=trial.look)

    own_trial = evaluate(own, space[own])
    trials = run(
        settings.mode,
        space,
        _reusing(evaluate, own, own_trial),
        slo,
        settings.objectives,
        (screen, finish) if can_look else None,
    )
    trials[own] = own_trial
    result = rank(trials, own, slo, settings.objectives, settings.mode, time.monotonic() - started)
    return replace(result, max_gap_to_best=settings.max_gap_to_best)


def _own_point(
    space: list[dict[str, Any]], base: Mapping[str, Any], settings: SearchSettings
) -> int | None:
    """The point that is the model's own config at the first batch size, if the space has it:
    one whose override changes nothing of `base`."""
    first = (settings.load.batch_sizes or (None,))[0]
    for i, point in enumerate(space):
        if point["batch_size"] == first and all(
            _within(base.get(k), v, is_map_field(k)) for k, v in point["config"].items()
        ):
            return i
    return None


def _within(base: Any, value: Any, is_map: bool = False) -> bool:
    """Whether `value` (part of an override) is already what `base` (Triton's effective config,
    which spells out every field) has: each field it sets is equal there, a zero, an empty list
    or an empty map may be absent. An empty message may not: `dynamic_batching: {}` turns
    dynamic batching on."""
    if isinstance(value, Mapping):
        if not isinstance(base, Mapping):
            return is_map and not value
        return all(_within(base.get(k), v) for k, v in value.items())
    if isinstance(value, list):
        there = base if isinstance(base, list) else []
        return len(there) == len(value) and all(map(_within, there, value))
    return bool(base == value or (base is None and not value))


def _reusing(
    evaluate: Callable[[int, Mapping[str, Any]], Trial], own: int, own_trial: Trial
) -> Callable[[int, Mapping[str, Any]], Trial]:
    def evaluate_once(index: int, point: Mapping[str, Any]) -> Trial:
        return own_trial if index == own else evaluate(index, point)

    return evaluate_once
