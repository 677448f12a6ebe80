"""A measurement with what it was asked to do, and its judged outcome: what reports render."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_triton.result import BlockPair, Measurement
from pytest_triton.slo import SLOCheck
from pytest_triton.spec import SLO, LoadSpec, ModelSpec

if TYPE_CHECKING:
    from pytest_triton.baseline.build import BuildCopy


@dataclass(frozen=True)
class Paired:
    """The baseline build's copy of the model, measured in turn with the current one."""

    measurement: Measurement
    copy: BuildCopy
    pairs: Mapping[str, tuple[BlockPair, ...]]  # load point -> its block pairs, in time order


@dataclass
class Recorded:
    """One measure() call, kept for judging (SLO, baseline) and for the reports."""

    measurement: Measurement
    model: ModelSpec
    load: LoadSpec
    slo: SLO | None
    effective_config: dict[str, Any] = field(default_factory=dict)
    paired: Paired | None = None  # with --triton-baseline-build, when that build has the model


@dataclass
class JudgedResult:
    """One measurement of one test after judging."""

    nodeid: str
    recorded: Recorded
    slo: SLOCheck | None
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. "no baseline", warnings

    @property
    def passed(self) -> bool:
        return not self.failures
