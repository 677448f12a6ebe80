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
    # What failed, in a few words each ("SLO not met", "baseline regression", ...).
    kinds: list[str] = field(default_factory=list)

    def fail(self, kind: str, message: str) -> None:
        self.kinds.append(kind)
        self.failures.append(message)

    @property
    def passed(self) -> bool:
        """Whether pytest-triton's own checks passed (the test's outcome is TestEntry's)."""
        return not self.failures


# pytest's outcomes of a test, in the order its summary line counts them.
OUTCOMES = ("failed", "passed", "skipped", "xfailed", "xpassed", "error", "interrupted")


@dataclass
class TestEntry:
    """One Triton test as pytest decided it, with what it measured: what every report renders,
    so no report can disagree with pytest's verdict."""

    __test__ = False  # not a test class, whatever its name

    nodeid: str
    outcome: str  # one of OUTCOMES
    reason: str = ""  # pytest's own failure, error or skip text
    results: list[JudgedResult] = field(default_factory=list)

    @property
    def why(self) -> str:
        """What failed it, in a few words: the checks of ours that failed, or the outcome."""
        kinds = list(dict.fromkeys(k for r in self.results for k in r.kinds))
        if self.outcome == "failed" and not kinds:
            return "failed in the test body"
        return ", ".join(kinds) if self.outcome == "failed" else self.outcome


def counts(entries: list[TestEntry]) -> str:
    """'1 failed, 3 passed', in pytest's order and words ('no Triton test ran' for none)."""
    if not entries:
        return "no Triton test ran"
    n = {o: sum(e.outcome == o for e in entries) for o in OUTCOMES}
    return ", ".join(
        f"{n[o]} {'errors' if o == 'error' and n[o] > 1 else o}" for o in OUTCOMES if n[o]
    )
