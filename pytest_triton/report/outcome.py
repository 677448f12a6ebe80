"""pytest's outcome of each Triton test with what it measured: what every report renders."""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_triton.record import MeasurementRecord

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
    results: list[MeasurementRecord] = field(default_factory=list)

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
