"""The hooks pytest-triton calls, for its own plugin modules and for any other plugin.

Registered in plugin.py (pytest_addhooks). The baseline gate (baseline.py) implements all of
them; a plugin that wants to see, size or judge measurements implements the ones it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_triton.record import MeasurementRecord
    from pytest_triton.result import Measurement, StepResult
    from pytest_triton.spec import SLO, LoadSpec, ModelSpec


@pytest.hookspec(firstresult=True)
def pytest_triton_measure_start(
    item: pytest.Item,
    key: str,
    model: ModelSpec,
    load: LoadSpec,
    slo: SLO | None,
    effective_config: Mapping[str, Any],
    reusable: bool,
) -> Measurement | None:
    """A test's measurement `key` of `model` is about to run.

    Return a Measurement to use instead of measuring (only when `reusable`: a paired
    comparison needs both builds measured now), or None to measure.
    """


@pytest.hookspec(firstresult=True)
def pytest_triton_load_spec(
    item: pytest.Item, key: str, model: ModelSpec, load: LoadSpec, paired: bool
) -> LoadSpec | None:
    """A test's measurement `key` of `model` is about to be planned with `load`.

    Return a LoadSpec to measure with instead (e.g. more windows), or None to keep it.
    `paired`: it will be measured in turn with the baseline build's copy.
    """


@pytest.hookspec
def pytest_triton_measured(item: pytest.Item, record: MeasurementRecord) -> None:
    """A measurement finished, before its test is judged: each config of a search, as it is
    measured (the baseline plugin checkpoints it, so a killed search resumes after it)."""


@pytest.hookspec
def pytest_triton_step(item: pytest.Item, step: StepResult) -> None:
    """A step of the measurement running in `item` finished (a Ctrl-C stops right after)."""


@pytest.hookspec
def pytest_triton_judge(item: pytest.Item, records: list[MeasurementRecord]) -> None:
    """The test body returned: judge its measurements.

    Each record already carries what the serving and SLO checks found (record.passed says
    whether they passed). Add failures with record.fail() and notes to record.notes: the test
    then fails once, with every reason of every implementation.
    """
