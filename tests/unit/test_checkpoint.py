"""Checkpoints: Model Analyzer's numbering, and resume only on an exactly matching key."""

from __future__ import annotations

from pathlib import Path

import pytest
from baseline_factories import fingerprint, measurement_from_latencies

from pytest_triton.baseline.checkpoint import Checkpoints, indices, read_checkpoint, resume_key
from pytest_triton.baseline.model_identity import ModelFiles, Subject
from pytest_triton.errors import BaselineError

SUBJECT = Subject(
    "tiny", None, ModelFiles("d1", {"a": "1"}), {"max_batch_size": 0}, {"concurrency": [4]}
)
M = measurement_from_latencies([5.0, 5.1, 4.9])


def test_each_session_writes_the_next_index_and_never_touches_older_ones(tmp_path: Path) -> None:
    first = Checkpoints(tmp_path)
    assert first.index == 0
    first.record("t::a", "k1", M, complete=True)
    first.record("t::b", "k2", M, complete=True)  # same session: same file, rewritten
    assert indices(tmp_path) == [0]
    before = (tmp_path / "0.ckpt").read_bytes()
    second = Checkpoints(tmp_path)
    second.record("t::c", "k3", M, complete=True)
    assert indices(tmp_path) == [0, 1]
    assert (tmp_path / "0.ckpt").read_bytes() == before
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "01.ckpt").write_text("not MA-style")  # leading zero: not a checkpoint name
    assert indices(tmp_path) == [0, 1]


def test_old_checkpoints_beyond_the_kept_number_are_pruned_by_a_writing_session(
    tmp_path: Path,
) -> None:
    for _ in range(5):
        Checkpoints(tmp_path).record("t::a", "k", M, complete=True)
    assert indices(tmp_path) == [0, 1, 2, 3, 4]
    reader = Checkpoints(tmp_path, resume=True, keep=2)  # records nothing: deletes nothing
    assert reader.loaded_from == tmp_path / "4.ckpt" and indices(tmp_path) == [0, 1, 2, 3, 4]
    writer = Checkpoints(tmp_path, keep=3)
    writer.record("t::a", "k", M, complete=True)
    assert indices(tmp_path) == [3, 4, 5]  # its own and the two newest before it
    Checkpoints(tmp_path, keep=0).record("t::a", "k", M, complete=True)
    assert indices(tmp_path) == [3, 4, 5, 6]  # 0: keep all


def test_a_session_that_records_nothing_writes_no_checkpoint(tmp_path: Path) -> None:
    Checkpoints(tmp_path, resume=True)
    assert indices(tmp_path) == []


def test_resume_reuses_only_exact_keys_of_complete_measurements(tmp_path: Path) -> None:
    key = resume_key("t::a", fingerprint(), SUBJECT, {"p99_ms": 10.0})
    run = Checkpoints(tmp_path)
    run.record("t::a", key, M, complete=True, slo_passed=True)
    run.record("t::b", "kb", M, complete=False)  # interrupted mid-measurement

    resumed = Checkpoints(tmp_path, resume=True)
    assert resumed.loaded_from == tmp_path / "0.ckpt"
    reused = resumed.reusable("t::a", key)
    assert reused is not None
    assert reused.measurement.steps[0].avg_ms == pytest.approx(M.steps[0].avg_ms)
    assert resumed.reusable("t::b", "kb") is None  # incomplete: measure again
    # any part of the key changing means measuring again
    other_subject = Subject(
        "tiny", None, ModelFiles("d2", {"a": "2"}), {"max_batch_size": 0}, {"concurrency": [4]}
    )
    for changed in (
        resume_key("t::a", fingerprint(gpu_driver="550"), SUBJECT, {"p99_ms": 10.0}),
        resume_key("t::a", fingerprint(), other_subject, {"p99_ms": 10.0}),
        resume_key("t::a", fingerprint(), SUBJECT, {"p99_ms": 12.0}),
    ):
        assert changed != key
        assert resumed.reusable("t::a", changed) is None
    # without --triton-resume nothing is reused
    assert Checkpoints(tmp_path).reusable("t::a", key) is None


def test_resumed_session_carries_earlier_records_forward(tmp_path: Path) -> None:
    Checkpoints(tmp_path).record("t::a", "ka", M, complete=True)
    resumed = Checkpoints(tmp_path, resume=True)
    resumed.record("t::b", "kb", M, complete=True)
    again = Checkpoints(tmp_path, resume=True)
    assert again.loaded_from == tmp_path / "1.ckpt"
    assert again.reusable("t::a", "ka") is not None and again.reusable("t::b", "kb") is not None


def test_corrupt_latest_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    Checkpoints(tmp_path).record("t::a", "ka", M, complete=True)
    (tmp_path / "1.ckpt").write_text('{"schema": "pytest-triton/checkpoint", "recor')
    with pytest.raises(BaselineError, match="1.ckpt is corrupt .*Delete it to resume"):
        Checkpoints(tmp_path, resume=True)
    # not resuming: the corrupt file is not read, and a new index goes past it
    fresh = Checkpoints(tmp_path)
    assert fresh.index == 2


def test_two_sessions_started_together_never_share_a_checkpoint(tmp_path: Path) -> None:
    """Both chose index 0 at start; the second one's saves replaced the first one's."""
    first = Checkpoints(tmp_path)
    second = Checkpoints(tmp_path)
    assert first.index == second.index == 0
    m = measurement_from_latencies([5.0, 5.1, 4.9])
    first.record("t.py::a [tiny]", "k", m, complete=True)
    second.record("t.py::b [tiny]", "k", m, complete=True)
    assert first.path != second.path
    assert set(read_checkpoint(first.path)) == {"t.py::a [tiny]"}
    assert set(read_checkpoint(second.path)) == {"t.py::b [tiny]"}
