"""The baseline store: golden-file round trips, atomic writes, bad input that loses nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from baseline_factories import fingerprint, measurement_from_latencies

from pytest_triton.baseline import store as store_mod
from pytest_triton.baseline.fingerprint import MatchPolicy
from pytest_triton.baseline.model_identity import ModelFiles, Subject
from pytest_triton.baseline.store import (
    BaselineFile,
    BaselineRecord,
    BaselineStore,
    parse_text,
    relative_path,
    select,
)
from pytest_triton.errors import BaselineCollisionError, BaselineError

GOLDEN = Path(__file__).parent / "golden" / "baseline_v1.json"
TEST_ID = "tests/perf/test_models.py::TestTiny::test_latency[grpc-c4]"


def _record(
    latencies: tuple[float, ...] = (5.0, 5.123456789, 4.9), when: str = "2025-01-02T03:04:05Z"
) -> BaselineRecord:
    subject = Subject(
        "tiny",
        None,
        ModelFiles("d1", {"1/model.py": "f1", "config.pbtxt": "f2"}),
        {"instance_group": [{"count": 2, "kind": "KIND_CPU"}], "max_batch_size": 0},
        {"concurrency": [4], "window_s": 2.0},
    )
    measurement = measurement_from_latencies(list(latencies), concurrency=4, requests=1500)
    return BaselineRecord(subject, measurement, when, "0.1.0", {"p99_ms": 20.0})


def _golden_file() -> BaselineFile:
    fp = fingerprint()
    return BaselineFile(TEST_ID, {fp.env_id: store_mod.BaselineEntry(fp, {"tiny": _record()})})


def test_serialisation_matches_the_golden_file() -> None:
    assert _golden_file().to_text() == GOLDEN.read_text(encoding="utf-8")


def test_golden_file_round_trips_byte_for_byte() -> None:
    text = GOLDEN.read_text(encoding="utf-8")
    assert parse_text(text, GOLDEN).to_text() == text


def test_earlier_sessions_round_trip_and_a_single_session_file_has_none() -> None:
    from dataclasses import replace

    from pytest_triton.baseline.history import summary

    record = _record()
    assert "sessions" not in record.to_dict()  # files without sessions read as one session
    earlier = summary(_record((5.2, 5.3, 5.1)).measurement, "2025-01-01T00:00:00Z")
    fp = fingerprint()
    file = BaselineFile(
        TEST_ID,
        {fp.env_id: store_mod.BaselineEntry(fp, {"tiny": replace(record, sessions=(earlier,))})},
    )
    text = file.to_text()
    again = parse_text(text, GOLDEN)
    assert again.to_text() == text
    (entry,) = again.environments.values()
    (session,) = entry.records["tiny"].sessions
    assert session["recorded_at"] == "2025-01-01T00:00:00Z" and set(session["steps"]) == {"c4"}


def test_file_is_diff_friendly() -> None:
    text = _golden_file().to_text()
    data = json.loads(text)
    assert data["schema_version"] == 1 and data["test"] == TEST_ID
    assert text.endswith("}\n") and "\t" not in text
    # numbers rounded to 4 decimals: noise below 0.1 µs makes no diff
    assert "5.1235" in text and "5.123456789" not in text
    env = data["environments"][fingerprint().env_id]
    assert len(env["measurements"]["tiny"]["measurement"]["steps"][0]["windows"]) == 3


def test_paths_mirror_the_test_tree_and_are_safe() -> None:
    assert (
        str(relative_path(TEST_ID)) == "tests/perf/test_models/TestTiny.test_latency[grpc-c4].json"
    )
    odd = relative_path("t.py::test[a/b c:..]")
    assert str(odd) == "t/test[a_b_c_..].json"
    assert ".." not in relative_path("../up.py::test").parts
    long = relative_path("t.py::test[" + "x" * 300 + "]")
    assert len(long.name) <= 105
    assert str(relative_path(TEST_ID, name="shared/tiny-c4")) == "shared/tiny-c4.json"


def test_write_read_and_environments_side_by_side(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path / "baselines")
    cpu = fingerprint()
    gpu = fingerprint(gpu_model="NVIDIA H100", gpu_count=1)
    path = store.write(TEST_ID, cpu, {"tiny": _record()})
    store.write(TEST_ID, gpu, {"tiny": _record((9.0, 9.1, 8.9))})
    file = store.read(TEST_ID)
    assert file is not None and set(file.environments) == {cpu.env_id, gpu.env_id}
    assert select(file, gpu).entry.records["tiny"].measurement.steps[0].avg_ms == pytest.approx(9.0)  # type: ignore[union-attr]
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_update_keeps_other_measurements_of_the_environment(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    fp = fingerprint()
    store.write(TEST_ID, fp, {"tiny": _record(), "other": _record()})
    store.write(TEST_ID, fp, {"tiny": _record((7.0, 7.0, 7.1))})
    entry = store.read(TEST_ID).environments[fp.env_id]  # type: ignore[union-attr]
    assert set(entry.records) == {"tiny", "other"}
    assert entry.records["tiny"].measurement.steps[0].avg_ms == pytest.approx(7.0333, abs=1e-3)


def test_mismatch_names_the_nearest_environment_and_what_differs(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    store.write(TEST_ID, fingerprint(gpu_model="NVIDIA A100", gpu_count=1), {"tiny": _record()})
    store.write(TEST_ID, fingerprint(cpu_model="Intel Xeon"), {"tiny": _record()})
    here = fingerprint(gpu_model="NVIDIA A100", gpu_count=1, server_version="2.52.0")
    match = select(store.read(TEST_ID), here)  # type: ignore[arg-type]
    assert not match.found
    assert [d.describe() for d in match.differences if d.blocking] == [
        "Triton version: 2.51.0 → 2.52.0"
    ]
    assert "NVIDIA A100" in match.nearest_label


def test_loose_policy_finds_a_comparable_environment(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    store.write(TEST_ID, fingerprint(server_digest="sha256:old"), {"tiny": _record()})
    file = store.read(TEST_ID)
    assert file is not None
    assert not select(file, fingerprint()).found
    loose = select(file, fingerprint(), MatchPolicy.parse("loose"))
    assert loose.found and [d.name for d in loose.differences] == ["server_digest"]


def test_truncated_file_is_a_clear_error_and_is_never_overwritten(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    path = store.write(TEST_ID, fingerprint(), {"tiny": _record()})
    truncated = path.read_text()[:500]
    path.write_text(truncated)
    with pytest.raises(BaselineError, match="is corrupt \\(it looks truncated\\)"):
        store.read(TEST_ID)
    with pytest.raises(BaselineError, match="--triton-baseline-force"):
        store.write(TEST_ID, fingerprint(), {"tiny": _record()})
    assert path.read_text() == truncated


def test_force_moves_the_bad_file_aside_instead_of_deleting_it(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    path = store.path_for(TEST_ID)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    store.write(TEST_ID, fingerprint(), {"tiny": _record()}, force=True)
    assert (path.parent / (path.name + ".invalid-1")).read_text() == "{not json"
    assert store.read(TEST_ID) is not None


def test_foreign_and_newer_schemas_are_refused(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    path = store.path_for(TEST_ID)
    path.parent.mkdir(parents=True)
    path.write_text('{"benchmarks": []}')
    with pytest.raises(BaselineError, match="not a pytest-triton baseline"):
        store.read(TEST_ID)
    newer = json.loads(_golden_file().to_text())
    newer["schema_version"] = 99
    path.write_text(json.dumps(newer))
    with pytest.raises(BaselineError, match="newer pytest-triton \\(schema version 99"):
        store.read(TEST_ID)
    with pytest.raises(BaselineError):
        store.write(TEST_ID, fingerprint(), {"tiny": _record()})
    assert json.loads(path.read_text())["schema_version"] == 99


def test_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    # A file where the directory should be: unwritable even for root (CI containers run as root).
    blocker = tmp_path / "baselines"
    blocker.write_text("")
    store = BaselineStore(blocker)
    with pytest.raises(BaselineError, match="is not writable"):
        store.write(TEST_ID, fingerprint(), {"tiny": _record()})


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory_is_a_clear_error(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    path = store.write(TEST_ID, fingerprint(), {"tiny": _record()})
    path.parent.chmod(0o500)
    try:
        with pytest.raises(BaselineError, match="not writable"):
            store.write(TEST_ID, fingerprint(), {"tiny": _record((6.0, 6.0, 6.1))})
    finally:
        path.parent.chmod(0o700)


def test_two_tests_on_one_file_are_an_error_naming_both(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    store.claim("t.py::test[a/b]")
    with pytest.raises(
        BaselineCollisionError, match="'t.py::test\\[a/b\\]' and 't.py::test\\[a_b\\]'"
    ):
        store.claim("t.py::test[a_b]")
    store.claim("t.py::test[a_b]", name="t/test-a_b-explicit")  # the way out


def test_file_of_another_test_is_never_taken_over(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    path = store.write("t.py::test[a/b]", fingerprint(), {"tiny": _record()})
    before = path.read_text()
    with pytest.raises(BaselineCollisionError, match="belongs to test 't.py::test\\[a/b\\]'"):
        store.read("t.py::test[a_b]")
    with pytest.raises(BaselineCollisionError):
        store.write("t.py::test[a_b]", fingerprint(), {"tiny": _record()}, force=True)
    assert path.read_text() == before


def test_orphans_are_listed_only_for_modules_in_scope(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    store.write("tests/test_a.py::test_old_name", fingerprint(), {"tiny": _record()})
    store.write("tests/test_a.py::test_kept", fingerprint(), {"tiny": _record()})
    store.write("tests/test_b.py::test_other", fingerprint(), {"tiny": _record()})
    (tmp_path / "broken.json").write_text("{")
    orphans = store.orphans(
        known_test_ids={"tests/test_a.py::test_kept", "tests/test_a.py::test_new_name"},
        in_scope={"tests/test_a.py"},
    )
    assert [o.test_id for o in orphans] == ["tests/test_a.py::test_old_name"]
    assert all(o.path.exists() for o in orphans)  # listed, not deleted
    broken = [s for s in store.scan() if s.test_id is None]
    assert len(broken) == 1 and "corrupt" in broken[0].error


def test_writability_is_checked_before_measuring(tmp_path: Path) -> None:
    blocker = tmp_path / "baselines"
    blocker.write_text("")
    with pytest.raises(BaselineError, match="baseline directory .* is not writable"):
        BaselineStore(blocker / "sub").check_writable()
    BaselineStore(tmp_path / "fine").check_writable()
    assert list((tmp_path / "fine").iterdir()) == []  # the probe is gone


def test_force_never_replaces_a_newer_schema_and_says_where_it_moved_a_bad_file(
    tmp_path: Path,
) -> None:
    """--triton-baseline-force once moved a newer pytest-triton's file aside, silently."""
    store = BaselineStore(tmp_path)
    path = store.path_for(TEST_ID)
    path.parent.mkdir(parents=True)
    newer = json.dumps({"schema": "pytest-triton/baseline", "schema_version": 99, "test": TEST_ID})
    path.write_text(newer)
    with pytest.raises(BaselineError, match="newer pytest-triton.*never replaces a newer file"):
        store.write(TEST_ID, fingerprint(), {"tiny": _record()}, force=True)
    assert path.read_text() == newer and list(path.parent.iterdir()) == [path]
    path.write_text("{not json")
    store.write(TEST_ID, fingerprint(), {"tiny": _record()}, force=True)
    assert store.moved_aside == {path: path.parent / (path.name + ".invalid-1")}
