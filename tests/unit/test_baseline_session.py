"""A session's bookkeeping: machine sampling per step, interrupted measurements, resume keys."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from baseline_factories import fingerprint, measurement_from_latencies

from pytest_triton.baseline.calibration import CalibrationSession, CalibrationStore, RowSample
from pytest_triton.baseline.checkpoint import Checkpoints, read_checkpoint
from pytest_triton.baseline.gate import GateSettings, Mode, Status
from pytest_triton.baseline.session import BaselineSession
from pytest_triton.baseline.store import BaselineStore
from pytest_triton.record import MeasurementRecord
from pytest_triton.server.base import ServerIdentity
from pytest_triton.spec import LoadSpec, ModelSpec

LOCAL = ServerIdentity("local", "2.51.0", "/x/tritonserver", "sha256:1")
REMOTE = ServerIdentity("remote", "2.51.0", "host:8001")
MODEL, LOAD = ModelSpec("tiny"), LoadSpec(concurrency=(4,))
M = measurement_from_latencies([5.0, 5.1, 4.9])
RECORD = MeasurementRecord("t.py::a", "tiny", M, MODEL, LOAD, None)


def _session(tmp_path: Path, mode: Mode = Mode.UPDATE, resume: bool = False) -> BaselineSession:
    return BaselineSession(
        GateSettings(mode),
        BaselineStore(tmp_path / "b"),
        Checkpoints(tmp_path / "ckpt", resume=resume),
        None,
    )


def test_local_steps_get_neighbour_cpu_which_reaches_the_baseline(tmp_path: Path) -> None:
    session = _session(tmp_path)
    assert session.before_measure("t.py::a", "tiny", LOCAL, MODEL, LOAD, None, {}) is None
    time.sleep(0.2)  # the step runs
    session.on_step(M.steps[0])
    rid = "t.py::a [tiny]"
    assert session.foreign[rid]["c4"] >= 0.0
    gate = session.judge("t.py::a", LOCAL, [RECORD])
    assert gate.judgements[0].status is Status.UPDATED
    data = json.loads(session.store.path_for("t.py::a").read_text())
    (env,) = data["environments"].values()
    machine = env["measurements"]["tiny"]["machine"]
    assert set(machine["foreign_cpus"]) == {"c4"}


def test_a_remote_server_is_not_sampled(tmp_path: Path) -> None:
    session = _session(tmp_path)
    session.before_measure("t.py::a", "tiny", REMOTE, MODEL, LOAD, None, {})
    time.sleep(0.1)
    session.on_step(M.steps[0])
    assert session.foreign == {}


def test_interrupted_measurement_is_checkpointed_incomplete_and_not_reused(tmp_path: Path) -> None:
    session = _session(tmp_path)
    session.before_measure("t.py::a", "tiny", REMOTE, MODEL, LOAD, None, {})
    session.on_step(M.steps[0])
    path = session.save_interrupted()
    assert path is not None
    record = read_checkpoint(path)["t.py::a [tiny]"]
    assert not record.complete and [s.load_point for s in record.measurement.steps] == ["c4"]
    resumed = _session(tmp_path, resume=True)
    assert resumed.before_measure("t.py::a", "tiny", REMOTE, MODEL, LOAD, None, {}) is None


def test_resume_reuses_a_completed_measurement_with_the_same_key(tmp_path: Path) -> None:
    first = _session(tmp_path, Mode.COMPARE)
    first.before_measure("t.py::a", "tiny", REMOTE, MODEL, LOAD, None, {})
    first.judge("t.py::a", REMOTE, [RECORD])
    again = _session(tmp_path, Mode.COMPARE, resume=True)
    reused = again.before_measure("t.py::a", "tiny", REMOTE, MODEL, LOAD, None, {})
    assert reused is not None and reused.steps[0].avg_ms == M.steps[0].avg_ms
    assert again.reused == ["t.py::a [tiny]"]
    # a second measure() of the same model in the test is another record: not reused
    assert again.before_measure("t.py::a", "tiny#2", REMOTE, MODEL, LOAD, None, {}) is None


def test_a_search_config_is_checkpointed_as_it_finishes_and_reused_on_resume(
    tmp_path: Path,
) -> None:
    # the session is killed during the search's next config: its test was never judged
    first = _session(tmp_path, Mode.COMPARE)
    two = {"instance_group": [{"count": 2}]}  # the config the server served
    first.before_measure("t.py::a", "tiny search 1", REMOTE, MODEL, LOAD, None, two)
    config_one = MeasurementRecord("t.py::a", "tiny search 1", M, MODEL, LOAD, None, two)
    first.measured(REMOTE, config_one)
    assert first.in_flight is None
    again = _session(tmp_path, Mode.COMPARE, resume=True)
    reused = again.before_measure("t.py::a", "tiny search 1", REMOTE, MODEL, LOAD, None, two)
    assert reused is not None and reused.steps[0].avg_ms == M.steps[0].avg_ms
    # another config under the same key (the space changed) is measured again
    three = {"instance_group": [{"count": 3}]}
    assert (
        again.before_measure("t.py::a", "tiny search 1", REMOTE, MODEL, LOAD, None, three) is None
    )


def test_a_resumed_measurement_keeps_the_machine_it_was_measured_on(tmp_path: Path) -> None:
    first = _session(tmp_path, Mode.COMPARE)
    first.before_measure("t.py::a", "tiny", LOCAL, MODEL, LOAD, None, {})
    time.sleep(0.2)
    first.on_step(M.steps[0])
    first.judge("t.py::a", LOCAL, [RECORD])
    again = _session(tmp_path, Mode.COMPARE, resume=True)
    assert again.before_measure("t.py::a", "tiny", LOCAL, MODEL, LOAD, None, {}) is not None
    # as stored: rounded to the files' 4 decimals
    assert again.foreign["t.py::a [tiny]"]["c4"] == pytest.approx(
        first.foreign["t.py::a [tiny]"]["c4"], abs=1e-4
    )


def _calibrated_session(tmp_path: Path, mode: Mode = Mode.COMPARE) -> BaselineSession:
    return BaselineSession(
        GateSettings(mode),
        BaselineStore(tmp_path / "b"),
        None,
        None,
        calibration=CalibrationStore(tmp_path / "cal"),
    )


def test_a_calibration_of_another_environment_is_not_used_and_says_so(tmp_path: Path) -> None:
    session = _calibrated_session(tmp_path)
    sample = CalibrationSession("2026-11-30T00:00:00Z", {"c4 p50": RowSample(5.0, 0.0, 0.0, 0.0)})
    for _ in range(3):
        session.calibration.add_session("t.py::a", fingerprint(), sample)  # type: ignore[union-attr]
    gate = session.judge("t.py::a", LOCAL, [RECORD])
    assert "is of another environment and is not used here" in gate.calibration
    assert gate.calibration in gate.notes()
    assert all(j.status is Status.NO_BASELINE for j in gate.judgements)


def test_a_corrupt_calibration_fails_the_test_and_is_kept(tmp_path: Path) -> None:
    session = _calibrated_session(tmp_path)
    path = session.calibration.path_for("t.py::a")  # type: ignore[union-attr]
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    gate = session.judge("t.py::a", LOCAL, [RECORD])
    (judgement,) = gate.judgements
    assert judgement.failed and judgement.status is Status.ERROR
    assert f"calibration {path} is corrupt" in judgement.message
    assert path.read_text() == "{not json"
    # listed in the session summary, like any failed gate
    assert session.gates == [gate]
    # with baselines off nothing is compared, so the calibration is not even read
    off = _calibrated_session(tmp_path, Mode.OFF).judge("t.py::a", LOCAL, [RECORD])
    assert not off.failed


def test_update_without_a_calibration_says_how_to_get_one(tmp_path: Path) -> None:
    gate = _calibrated_session(tmp_path, Mode.UPDATE).judge("t.py::a", LOCAL, [RECORD])
    assert gate.calibration.startswith("no calibration of this runner: `pytest --triton-calibrate`")


def test_sizing_reads_this_runners_calibration_and_the_tests_own_tolerances(
    tmp_path: Path,
) -> None:
    session = _calibrated_session(tmp_path)
    session.size_from_calibration = True
    load = LoadSpec(concurrency=(4,), measured_windows=5)
    # nothing to size from yet: measured as configured, and the note says why
    assert session.size("t.py::a", "tiny", LOCAL, load, paired=False) is None
    assert session.sizing_notes["t.py::a [tiny]"].startswith(
        "measurement not sized: no calibration of this runner (`pytest --triton-calibrate` 3"
    )
    # windows 4 % apart, a quiet runner between sessions
    row = RowSample(5.0, 0.04**2 / 5, 0.0, 1e-6, windows=5, pairs=4)
    sample = CalibrationSession("2026-11-30T00:00:00Z", {"c4 p50": row})
    here = session.fingerprint(LOCAL)
    for _ in range(3):
        session.calibration.add_session("t.py::a", here, sample)  # type: ignore[union-attr]
    tight = session.size(
        "t.py::a", "tiny", LOCAL, load, paired=False, tolerance_overrides={"p50": 0.06}
    )
    loose = session.size(
        "t.py::a", "tiny", LOCAL, load, paired=False, tolerance_overrides={"p50": 0.15}
    )
    assert tight is not None and loose is not None
    assert tight.measured_windows > loose.measured_windows
    assert "measured windows per step" in session.sizing_notes["t.py::a [tiny]"]
    # nothing is compared with baselines off: nothing to size for
    off = _calibrated_session(tmp_path, Mode.OFF)
    off.size_from_calibration = True
    assert off.size("t.py::a", "tiny", LOCAL, load, paired=False) is None
