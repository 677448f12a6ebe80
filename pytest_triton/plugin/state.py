"""What the plugin remembers across one pytest session: specs per test and judged results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    # Types only: the plugin must load without importing the core (see plugin.py).
    from pytest_triton.baseline.session import BaselineSession  # noqa: F401 (named in a string below)
    from pytest_triton.record import MeasurementRecord
    from pytest_triton.report.outcome import TestEntry
    from pytest_triton.server.base import ServerIdentity

    from .markers import TestSpecs  # noqa: F401 (named in a string below)


@dataclass
class SessionState:
    results: list[MeasurementRecord] = field(default_factory=list)
    server: ServerIdentity | None = None
    reports_written: list[str] = field(default_factory=list)
    report_errors: list[str] = field(default_factory=list)
    # pytest's outcome of each Triton test that ran, in the order they ran (hooks.py)
    entries: dict[str, TestEntry] = field(default_factory=dict)


STATE_KEY = pytest.StashKey[SessionState]()
SPECS_KEY = pytest.StashKey["TestSpecs"]()
# The baseline plugin's session, made at collection (plugin/baseline.py); the `triton` fixture
# reads its --triton-baseline-build to preload a paired model's two copies instead of the model.
SESSION_KEY = pytest.StashKey["BaselineSession"]()
