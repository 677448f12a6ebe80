"""A measurement with what it was asked to do, and its judged outcome: what reports render."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_triton.result import Measurement
from pytest_triton.slo import SLOCheck
from pytest_triton.spec import SLO, LoadSpec, ModelSpec


@dataclass
class Recorded:
    """One measure() call, kept for judging (SLO, baseline) and for the reports."""

    measurement: Measurement
    model: ModelSpec
    load: LoadSpec
    slo: SLO | None
    effective_config: dict[str, Any] = field(default_factory=dict)


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
