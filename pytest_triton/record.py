"""One measurement of one test, from measure() through its verdicts to every report.

The SLO check, the baseline gate and the reports all read and extend this one record: none
copies its fields into a record of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_triton.judge.slo import SLOCheck
from pytest_triton.result import BlockPair, Measurement
from pytest_triton.spec import SLO, LoadSpec, ModelSpec

if TYPE_CHECKING:
    from pytest_triton.baseline.build import BuildCopy
    from pytest_triton.judge.rows import Row
    from pytest_triton.search.result import SearchResult


def measurement_key(model: str, occurrence: int) -> str:
    """How a test's measurements are told apart: 'tiny', then 'tiny#2' for a second
    measure() of the same model in one test."""
    return model if occurrence <= 1 else f"{model}#{occurrence}"


def record_id(test_id: str, key: str) -> str:
    """A measurement's name in checkpoints and summaries: 'tests/t.py::test_a [tiny]'."""
    return f"{test_id} [{key}]"


@dataclass(frozen=True)
class Paired:
    """The baseline build's copy of the model, measured in turn with the current one."""

    measurement: Measurement
    copy: BuildCopy
    pairs: Mapping[str, tuple[BlockPair, ...]]  # load point -> its block pairs, in time order


@dataclass
class MeasurementRecord:
    """One triton.measure() call: what was asked, what was measured, and what was found."""

    test_id: str  # pytest's node id
    key: str  # measurement_key(): which of the test's measurements
    measurement: Measurement
    model: ModelSpec
    load: LoadSpec
    slo: SLO | None
    effective_config: dict[str, Any] = field(default_factory=dict)
    paired: Paired | None = None  # with --triton-baseline-build, when that build has the model
    reused: bool = False  # taken from a checkpoint (--triton-resume), not measured now
    # triton.search(): the winner's (or the closest config's) measurement, and the search
    search: SearchResult | None = None
    slo_check: SLOCheck | None = None
    # The baseline gate's rows for this measurement ("c4 p50": its change and verdict).
    baseline_rows: tuple[Row, ...] = ()
    failures: list[str] = field(default_factory=list)
    # What failed, in a few words each ("SLO not met", "baseline regression", ...).
    kinds: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. "no baseline", warnings

    @property
    def id(self) -> str:
        return record_id(self.test_id, self.key)

    def fail(self, kind: str, message: str) -> None:
        self.kinds.append(kind)
        self.failures.append(message)

    @property
    def passed(self) -> bool:
        """Whether pytest-triton's checks so far passed (the test's outcome is TestEntry's)."""
        return not self.failures
