"""The runner's noise from A/A sessions, and the calibration files that keep it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from baseline_factories import fingerprint, measurement_from_latencies, scaled

from pytest_triton.baseline.build import BuildCopy
from pytest_triton.baseline.calibration import (
    MIN_SESSIONS,
    CalibrationSession,
    CalibrationStore,
    RowSample,
    runner_noise,
    session_from,
)
from pytest_triton.baseline.model_identity import ModelFiles
from pytest_triton.errors import BaselineError, BaselineNewerSchemaError
from pytest_triton.judge.change import PRIOR_SESSIONS
from pytest_triton.record import Paired
from pytest_triton.result import BlockPair

TEST_ID = "tests/test_perf.py::test_tiny"


def _session(value: float, offset: float) -> CalibrationSession:
    return CalibrationSession(
        "2026-11-30T00:00:00Z", {"c4 p50": RowSample(value, 1e-6, offset, 1e-6)}
    )


def test_sessions_that_move_give_the_run_noise_and_copies_apart_give_the_paired_noise() -> None:
    # values 5 % apart from session to session, copies ±4 % apart: far above their windows
    sessions = [
        _session(5.0 * math.exp(d), o)
        for d, o in ((0.05, 0.04), (-0.05, -0.04), (0.0, 0.04), (0.05, -0.04), (-0.05, 0.04))
    ]
    noise = runner_noise(sessions, run_noise=0.02, paired_noise=0.03)
    k = len(sessions)
    between = sum(d * d for d in (0.05, -0.05, 0.0, 0.05, -0.05)) / (k - 1) - 1e-6
    expected_run = math.sqrt(
        (PRIOR_SESSIONS * 0.02**2 + (k - 1) * between) / (PRIOR_SESSIONS + k - 1)
    )
    assert noise.run["c4 p50"] == pytest.approx(expected_run)
    per_side = (0.04**2 - 1e-6) / 2
    expected_paired = math.sqrt(
        (PRIOR_SESSIONS * 0.03**2 + (k - 1) * per_side) / (PRIOR_SESSIONS + k - 1)
    )
    assert noise.paired["c4 p50"] == pytest.approx(expected_paired)
    # a quiet runner's calibration narrows the default, more so with more sessions
    quiet = [_session(5.0, 0.0)] * 3
    assert runner_noise(quiet, 0.02, 0.03).run["c4 p50"] < 0.02
    assert (
        runner_noise(quiet * 5, 0.02, 0.03).run["c4 p50"]
        < runner_noise(quiet, 0.02, 0.03).run["c4 p50"]
    )


def test_a_row_seen_by_fewer_sessions_than_needed_has_no_measured_noise() -> None:
    sessions = [_session(5.0, 0.01)] * (MIN_SESSIONS - 1)
    noise = runner_noise(sessions, 0.02, 0.03)
    assert noise.run == {} and noise.paired == {}


def test_an_aa_session_keeps_the_copy_offset_and_the_values_per_row() -> None:
    base = measurement_from_latencies([5.0, 5.1, 4.9, 5.05, 4.95])
    twin = scaled(base, 1.02)  # the identical copy ran 2 % slower throughout
    (step,) = base.steps
    pairs = {step.load_point: (BlockPair(twin.steps[0], step),) * 4}
    copy = BuildCopy("tiny__baseline_build", Path("models"), ModelFiles())
    session = session_from(base, Paired(twin, copy, pairs))
    p50 = session.rows["c4 p50"]
    assert p50.value == pytest.approx(step.p50_ms)
    assert p50.offset == pytest.approx(math.log(1 / 1.02))
    assert p50.offset_var == pytest.approx(0.0, abs=1e-12)
    assert p50.value_var > 0
    assert set(session.rows) >= {"c4 p50", "c4 throughput"}


def test_sessions_are_kept_per_environment_and_round_trip(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path)
    here, there = fingerprint(), fingerprint(server_version="2.52.0")
    sample = RowSample(5.0, 2.5e-5, -0.0123, 4e-6)
    session = CalibrationSession("2026-11-30T00:00:00Z", {"c4 p50": sample})
    for _ in range(3):
        store.add_session(TEST_ID, here, session)
    path, count = store.add_session(TEST_ID, there, session)
    assert count == 1 and path == tmp_path / "tests" / "test_perf" / "test_tiny.json"
    file = store.read(TEST_ID)
    assert file is not None
    mine = file.sessions_for(here)
    assert mine is not None and len(mine) == 3
    kept = mine[0].rows["c4 p50"]
    assert kept.value == 5.0 and kept.offset == pytest.approx(-0.0123, abs=1e-6)
    assert kept.value_var == pytest.approx(2.5e-5, rel=1e-3)
    assert kept.offset_var == pytest.approx(4e-6, rel=1e-3)
    # another runner's sessions are never this one's
    assert file.sessions_for(fingerprint(cpu_model="Intel Xeon")) is None


def test_a_corrupt_or_newer_calibration_is_an_error_and_kept(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path)
    path = store.path_for(TEST_ID)
    path.parent.mkdir(parents=True)
    path.write_text('{"schema": "pytest-triton/calibration", "schema_ver')
    with pytest.raises(BaselineError, match="is corrupt.*left untouched"):
        store.read(TEST_ID)
    with pytest.raises(BaselineError, match="is corrupt"):
        store.add_session(TEST_ID, fingerprint(), _session(5.0, 0.0))
    assert path.read_text() == '{"schema": "pytest-triton/calibration", "schema_ver'
    path.write_text('{"schema": "pytest-triton/calibration", "schema_version": 99, "test": "t"}')
    with pytest.raises(BaselineNewerSchemaError, match="newer pytest-triton"):
        store.read(TEST_ID)
