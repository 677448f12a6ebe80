"""How a search walks its space: `brute` measures every config, `quick` climbs a hill.

Quick is Model Analyzer's idea (a hill climb that needs a fraction of the space) on any space:
the configs are points of a grid whose dimensions are the config fields that differ between
them (instance count, max_batch_size, a queue delay...), each dimension's values in order
(numbers ascending, an absent field first). The climb starts at the smallest config and goes
along one dimension while the next config beats the one it stands on, then along the next
dimension, and rounds again until no dimension moves it: each move measures one config. A
config that cannot be measured (skipped) is never stood on.

When configs are measured with the `auto` ramp, quick climbs on looks: each config's probe ramp
alone (a few short probes, no stable steps: Model Analyzer's climb also decides on single
measurements), and only the FINALISTS best looks are then measured to stability, their ramps
going on from the look's probes. A look decides where to climb, never which config wins: the
ranking is of measured configs only.

A strategy only decides which configs to measure; `evaluate` measures one (or says why it was
skipped), `screen` takes a look at one, `finish` measures a looked-at one, and
objectives.score_all ranks what was measured.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from pytest_triton.result import Measurement
from pytest_triton.search.objectives import Objectives, score_all
from pytest_triton.spec import SLO

Mode = Literal["brute", "quick"]
MODES: tuple[Mode, ...] = ("brute", "quick")
# Looked-at configs quick measures to stability, best looks first: a look is one short window
# per load point, and two configs' looks can swap places.
FINALISTS = 2


@dataclass(frozen=True)
class Trial:
    """One point of the space: measured, skipped with a reason, or not needed."""

    index: int
    point: Mapping[str, Any]
    measurement: Measurement | None = None
    skipped: str = ""  # why it could not be measured ('' when measured or not tried)
    # quick's look at it (module docstring): its probe ramp, whose steps are the probes
    look: Measurement | None = None

    @property
    def tried(self) -> bool:
        return self.measurement is not None or self.look is not None or bool(self.skipped)


# Measures point `index` of the space (or says why it was skipped).
Evaluate = Callable[[int, Mapping[str, Any]], Trial]
# Measures a looked-at trial to stability.
Finish = Callable[[Trial], Trial]


def run(
    mode: Mode,
    points: Sequence[Mapping[str, Any]],
    evaluate: Evaluate,
    slo: SLO | None,
    objectives: Objectives,
    looks: tuple[Evaluate, Finish] | None = None,
) -> list[Trial]:
    """The space's trials, in the space's order (untried ones empty). `looks` (quick only):
    how to take a look at a config instead of measuring it, and how to measure a looked-at
    one (module docstring)."""
    trials = [Trial(i, c) for i, c in enumerate(points)]
    if mode == "brute":
        for i, point in enumerate(points):
            trials[i] = evaluate(i, point)
        return trials
    if looks is None:
        return _climb(points, evaluate, slo, objectives, trials)
    screen, finish = looks
    looked = _climb(points, screen, _look_bounds(slo), objectives, trials)
    return _finals(looked, finish, _look_bounds(slo), objectives)


def _climb(
    points: Sequence[Mapping[str, Any]],
    evaluate: Evaluate,
    slo: SLO | None,
    objectives: Objectives,
    trials: list[Trial],
) -> list[Trial]:
    """Coordinate ascent: along each dimension in turn, step while the next config beats the
    current one; round again until no dimension moves."""
    grid = Grid(points)

    def tried(i: int) -> Trial:
        if not trials[i].tried:
            trials[i] = evaluate(i, points[i])
        return trials[i]

    def beats(challenger: int, holder: int) -> bool:
        a, b = _standings([trials[challenger], trials[holder]], slo, objectives)
        if a is None:
            return False  # skipped: never stood on
        return b is None or a > b

    current = grid.start()
    tried(current)
    moved = True
    while moved:
        moved = False
        for dim in range(grid.dimensions):
            for direction in (1, -1):
                stepped = False
                while (ahead := grid.step(current, dim, direction)) is not None:
                    tried(ahead)
                    if not beats(ahead, current):
                        break
                    current, stepped, moved = ahead, True, True
                if stepped:
                    break  # it climbed this way: the other way is downhill
    return trials


def _finals(
    trials: list[Trial], finish: Finish, slo: SLO | None, objectives: Objectives
) -> list[Trial]:
    """Measure the FINALISTS best looks to stability (`slo`: what looks are held to)."""
    looked = {i: s for i, s in enumerate(_standings(trials, slo, objectives)) if s is not None}
    for i in sorted(looked, key=looked.__getitem__, reverse=True)[:FINALISTS]:
        trials[i] = finish(trials[i])
    return trials


def _standings(
    trials: Sequence[Trial], slo: SLO | None, objectives: Objectives
) -> list[tuple[bool, float] | None]:
    """(eligible, score) of each trial against the others on its measurement, or on its look
    when it has only that (None: neither)."""
    evidence = [t.measurement or _looked_steps(t.look) for t in trials]
    scored = score_all(evidence, slo, objectives)
    return [
        None if e is None else (s.eligible, s.score) for e, s in zip(evidence, scored, strict=True)
    ]


def _look_bounds(slo: SLO | None) -> SLO | None:
    """What a look is held to: the SLO's per-step bounds (a probe ramp has no capacity
    search)."""
    return replace(slo, min_capacity=None) if slo is not None else None


def _looked_steps(look: Measurement | None) -> Measurement | None:
    """A look's probes as steps, so that the objectives weigh them like measured ones."""
    if look is None:
        return None
    return replace(look, steps=tuple(replace(s, probe=False) for s in look.steps))


class Grid:
    """The configs as points of a grid (module docstring)."""

    def __init__(self, configs: Sequence[Mapping[str, Any]]) -> None:
        columns = {p: v for p, v in _columns(list(configs), "").items() if len(set(v)) > 1}
        orders = {p: _ordered(v) for p, v in columns.items()}
        self.coords: list[tuple[int, ...]] = [
            tuple(orders[p].index(columns[p][i]) for p in columns) for i in range(len(configs))
        ]
        self._at = {c: i for i, c in reversed(list(enumerate(self.coords)))}

    def start(self) -> int:
        """The smallest config: the least sum of coordinates, the first of equals."""
        return min(range(len(self.coords)), key=lambda i: (sum(self.coords[i]), i))

    @property
    def dimensions(self) -> int:
        return len(self.coords[0]) if self.coords else 0

    def step(self, index: int, dim: int, direction: int) -> int | None:
        """The config one step from `index` along dimension `dim` (None: the grid ends, or
        that point is not in the space)."""
        here = self.coords[index]
        return self._at.get(here[:dim] + (here[dim] + direction,) + here[dim + 1 :])

    def neighbours(self, index: int) -> list[int]:
        """Configs one step away along one dimension."""
        out = []
        for dim in range(self.dimensions):
            for direction in (-1, 1):
                found = self.step(index, dim, direction)
                if found is not None:
                    out.append(found)
        return out


def _columns(values: list[Any], path: str) -> dict[str, list[Any]]:
    """The configs' values by field path ('instance_group[0].count'), one column each. A
    field is split into its own fields only where every config has it as a mapping (or as a
    list of the same length); elsewhere its whole value is one column, so that
    `dynamic_batching: {}` (on) and no dynamic_batching (off) stay two values."""
    if all(isinstance(v, Mapping) for v in values) and any(values):
        keys = list(dict.fromkeys(k for v in values for k in v))
        out: dict[str, list[Any]] = {}
        for key in keys:
            out.update(_columns([v.get(key) for v in values], f"{path}.{key}".lstrip(".")))
        return out
    if (
        all(isinstance(v, list) for v in values)
        and len({len(v) for v in values}) == 1
        and any(isinstance(item, (Mapping, list)) for v in values for item in v)
    ):
        out = {}
        for i in range(len(values[0])):
            out.update(_columns([v[i] for v in values], f"{path}[{i}]"))
        return out
    return {path: [_hashable(v) for v in values]}


def _hashable(value: Any) -> Any:
    if isinstance(value, (Mapping, list)):
        return json.dumps(value, sort_keys=True)
    return value


def _ordered(values: Sequence[Any]) -> list[Any]:
    """Distinct values, numbers ascending (absent first), others as they first appear."""
    distinct: list[Any] = []
    for v in values:
        if v not in distinct:
            distinct.append(v)
    numbers = [v for v in distinct if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) == len([v for v in distinct if v is not None]):
        return ([None] if None in distinct else []) + sorted(numbers)
    return distinct
