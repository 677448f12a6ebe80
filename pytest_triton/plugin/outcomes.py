"""pytest's own outcome of each Triton test, kept for the reports: they state it, not ours."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from .state import SessionState

if TYPE_CHECKING:
    from pytest_triton.report.outcome import TestEntry


# A user property of every Triton test's reports (hooks.py sets it at collection).
TRITON_TEST_PROPERTY = "triton_test"


class OutcomeRecorder:
    """Registered as a plugin at configure: pytest_runtest_logreport gets no config."""

    def __init__(self, state: SessionState) -> None:
        self._state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from pytest_triton.report.outcome import TestEntry

        # a pytest-xdist worker's report arrives with its properties as lists
        if not any(tuple(p) == (TRITON_TEST_PROPERTY, True) for p in report.user_properties):
            return
        entries = self._state.entries
        entry = entries.setdefault(report.nodeid, TestEntry(report.nodeid, "passed"))
        outcome = _outcome(report)
        # A later phase can only make it worse: a teardown error after a pass is an error.
        if outcome is not None and (entry.outcome == "passed" or report.when == "call"):
            entry.outcome = outcome
            if outcome != "passed":
                entry.reason = _reason(report)


def _outcome(report: pytest.TestReport) -> str | None:
    """pytest's word for a phase's report, as its summary counts it (None: nothing to say)."""
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.skipped:
        return "skipped"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    return "passed" if report.when == "call" else None


def _reason(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    return report.longreprtext


def reported(state: SessionState) -> list[TestEntry]:
    """Each Triton test that ran, with pytest's outcome and what it measured."""
    from pytest_triton.report.outcome import TestEntry

    entries = {nodeid: replace(e, results=[]) for nodeid, e in state.entries.items()}
    for record in state.results:
        # measured, then cut short before pytest reported it (Ctrl-C): not a pass
        entry = entries.setdefault(record.test_id, TestEntry(record.test_id, "interrupted"))
        entry.results.append(record)
    return list(entries.values())
