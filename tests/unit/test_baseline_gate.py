"""The gate's modes: compare never writes, update writes only good measurements, and the rest."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from baseline_factories import fingerprint, measurement_from_latencies, scaled

from pytest_triton.baseline.build import BuildCopy
from pytest_triton.baseline.fingerprint import MatchPolicy
from pytest_triton.baseline.gate import Candidate, GateSettings, Mode, Status, gate_test
from pytest_triton.baseline.model_identity import ModelFiles, Subject
from pytest_triton.baseline.store import BaselineStore
from pytest_triton.judge.guard import MachineLoad
from pytest_triton.judge.tolerance import Tolerances
from pytest_triton.record import MeasurementRecord, Paired
from pytest_triton.result import BlockPair, Measurement
from pytest_triton.spec import LoadSpec, ModelSpec

TEST_ID = "tests/test_perf.py::test_tiny"
BASE = measurement_from_latencies([5.0, 5.1, 4.9, 5.05, 4.95])
SUBJECT = Subject(
    "tiny",
    None,
    ModelFiles("d1", {"1/model.py": "a"}),
    {"instance_group": [{"count": 2}]},
    {"concurrency": [4]},
)
COMPARE = GateSettings(Mode.COMPARE)
UPDATE = GateSettings(Mode.UPDATE)


def _candidate(
    measurement: Measurement = BASE,
    *,
    key: str = "tiny",
    subject: Subject = SUBJECT,
    slo_passed: bool = True,
    machine: MachineLoad | None = None,
    paired: tuple[Paired, Subject] | None = None,
) -> Candidate:
    record = MeasurementRecord(
        TEST_ID,
        key,
        measurement,
        ModelSpec(subject.model),
        LoadSpec(concurrency=(4,)),
        None,
        paired=paired[0] if paired else None,
    )
    if not slo_passed:
        record.fail("SLO not met", "p99 5.0 ms > 1.0 ms")
    return Candidate(record, subject, machine, paired[1] if paired else None)


def _recorded(tmp_path: Path) -> BaselineStore:
    store = BaselineStore(tmp_path)
    gate = gate_test(store, TEST_ID, fingerprint(), [_candidate()], UPDATE)
    assert gate.judgements[0].status is Status.UPDATED
    return store


def test_no_baseline_passes_with_a_note_or_fails_when_required(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    gate = gate_test(store, TEST_ID, fingerprint(), [_candidate()], COMPARE)
    assert not gate.failed
    assert gate.judgements[0].status is Status.NO_BASELINE
    assert "no baseline for 'tiny'" in gate.notes()[0]
    required = gate_test(
        store, TEST_ID, fingerprint(), [_candidate()], GateSettings(Mode.COMPARE, required=True)
    )
    assert required.failed and "--triton-baseline-required" in required.failure_message()
    assert not any(tmp_path.iterdir())  # compare never writes


def test_unchanged_build_passes_and_slower_one_fails_with_a_table(tmp_path: Path) -> None:
    store = _recorded(tmp_path)
    before = store.path_for(TEST_ID).read_bytes()
    same = gate_test(store, TEST_ID, fingerprint(), [_candidate()], COMPARE)
    assert not same.failed and same.judgements[0].status is Status.COMPARED
    slow = gate_test(store, TEST_ID, fingerprint(), [_candidate(scaled(BASE, 1.3))], COMPARE)
    assert slow.failed and slow.judgements[0].status is Status.REGRESSED
    message = slow.failure_message()
    assert "performance regression against the baseline of 'tiny' recorded" in message
    assert "change [95% CI]" in message and "REGRESSION" in message
    assert store.path_for(TEST_ID).read_bytes() == before  # compare never writes
    assert slow.summary_lines()[0].startswith("FAIL tests/test_perf.py::test_tiny [tiny] REGRESSED")


def test_model_and_config_changes_do_not_block_and_are_named(tmp_path: Path) -> None:
    store = _recorded(tmp_path)
    changed = Subject(
        "tiny",
        None,
        ModelFiles("d2", {"1/model.py": "b"}),
        {"instance_group": [{"count": 1}]},
        {"concurrency": [4]},
    )
    gate = gate_test(
        store, TEST_ID, fingerprint(), [_candidate(scaled(BASE, 1.3), subject=changed)], COMPARE
    )
    assert gate.failed  # still compared
    assert "changed: 1/model.py changed" in gate.failure_message()
    assert "changed: instance_group count 2 → 1" in gate.failure_message()


def test_environment_mismatch_is_not_compared_and_names_the_difference(tmp_path: Path) -> None:
    store = _recorded(tmp_path)
    other = fingerprint(server_version="2.52.0")
    gate = gate_test(store, TEST_ID, other, [_candidate(scaled(BASE, 2.0))], COMPARE)
    assert not gate.failed
    judgement = gate.judgements[0]
    assert judgement.status is Status.ENV_MISMATCH and judgement.verdict is None
    assert "Triton version: 2.51.0 → 2.52.0" in judgement.message
    assert "--triton-baseline-match=loose or =server_version" in judgement.message
    required = gate_test(
        store, TEST_ID, other, [_candidate()], GateSettings(Mode.COMPARE, required=True)
    )
    assert required.failed


def test_loose_match_compares_and_says_what_it_ignored(tmp_path: Path) -> None:
    store = _recorded(tmp_path)
    gate = gate_test(
        store,
        TEST_ID,
        fingerprint(server_digest="sha256:new"),
        [_candidate(scaled(BASE, 1.3))],
        GateSettings(Mode.COMPARE, match=MatchPolicy.parse("loose")),
    )
    assert gate.failed
    assert "ignored by the match policy" in gate.failure_message()


def test_update_skips_measurements_that_failed_their_checks(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    gate = gate_test(store, TEST_ID, fingerprint(), [_candidate(slo_passed=False)], UPDATE)
    assert [j.status for j in gate.judgements] == [Status.NOT_UPDATED]
    assert "did not meet its SLO" in gate.judgements[0].message
    assert not store.path_for(TEST_ID).exists()


def test_update_reports_how_it_compares_with_what_it_replaces(tmp_path: Path) -> None:
    store = _recorded(tmp_path)
    gate = gate_test(store, TEST_ID, fingerprint(), [_candidate(scaled(BASE, 1.3))], UPDATE)
    assert not gate.failed
    assert "against the previous baseline: 2 regression(s)" in gate.judgements[0].message
    again = gate_test(store, TEST_ID, fingerprint(), [_candidate(scaled(BASE, 1.3))], COMPARE)
    assert not again.failed  # the new baseline is the slower run


def test_corrupt_file_fails_the_test_in_both_modes_and_is_kept(tmp_path: Path) -> None:
    store = _recorded(tmp_path)
    path = store.path_for(TEST_ID)
    path.write_text("{")
    for settings in (COMPARE, UPDATE):
        gate = gate_test(store, TEST_ID, fingerprint(), [_candidate()], settings)
        assert gate.failed and "corrupt" in gate.failure_message()
    assert path.read_text() == "{"


def test_per_test_tolerance_overrides_apply(tmp_path: Path) -> None:
    store = _recorded(tmp_path)
    loose = {"p50": 0.5, "throughput": 0.5, "p99": 0.5}
    gate = gate_test(
        store,
        TEST_ID,
        fingerprint(),
        [_candidate(scaled(BASE, 1.3))],
        COMPARE,
        tolerance_overrides=loose,
    )
    assert not gate.failed


def test_off_does_nothing(tmp_path: Path) -> None:
    gate = gate_test(
        BaselineStore(tmp_path), TEST_ID, fingerprint(), [_candidate()], GateSettings(Mode.OFF)
    )
    assert not gate.failed and gate.notes() == []
    assert not any(tmp_path.iterdir())


def test_machine_load_is_stored_and_guards_the_comparison(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    quiet = MachineLoad(2, {"c4": 0.05})
    gate_test(store, TEST_ID, fingerprint(), [_candidate(machine=quiet)], UPDATE)
    stored = json.loads(store.path_for(TEST_ID).read_text())
    (env,) = stored["environments"].values()
    assert env["measurements"]["tiny"]["machine"] == {
        "cpus": 2,
        "foreign_cpus": {"c4": 0.05},
    }
    busy = MachineLoad(2, {"c4": 1.2})
    gate = gate_test(
        store, TEST_ID, fingerprint(), [_candidate(scaled(BASE, 1.3), machine=busy)], COMPARE
    )
    assert not gate.failed
    assert "machine busier: other processes used 1.20 of 2 CPUs vs 0.05" in gate.notes()[0]


def test_update_warns_when_the_new_baseline_was_measured_on_a_busy_machine(
    tmp_path: Path,
) -> None:
    store = BaselineStore(tmp_path)
    busy = MachineLoad(2, {"c4": 1.0})
    gate = gate_test(store, TEST_ID, fingerprint(), [_candidate(machine=busy)], UPDATE)
    message = gate.judgements[0].message
    assert "WARNING: other processes used up to 1.00 of 2 CPUs while c4 was measured" in message
    quiet = gate_test(
        store, TEST_ID, fingerprint(), [_candidate(machine=MachineLoad(2, {"c4": 0.1}))], UPDATE
    )
    assert "WARNING" not in quiet.judgements[0].message


def _sessions(store: BaselineStore) -> list[dict[str, object]]:
    data = json.loads(store.path_for(TEST_ID).read_text())
    (env,) = data["environments"].values()
    return list(env["measurements"]["tiny"].get("sessions", []))


def test_updates_of_an_unchanged_test_average_their_sessions(tmp_path: Path) -> None:
    store = _recorded(tmp_path)
    assert _sessions(store) == []  # one session: the file format of a single measurement
    keep3 = GateSettings(Mode.UPDATE, keep_sessions=3)
    for expected in (1, 2, 2):  # capped at 3 sessions: the latest plus 2 earlier ones
        gate = gate_test(store, TEST_ID, fingerprint(), [_candidate()], keep3)
        assert f"mean of {expected + 1} sessions" in gate.judgements[0].message
        assert len(_sessions(store)) == expected
    compared = gate_test(store, TEST_ID, fingerprint(), [_candidate()], COMPARE)
    assert "(mean of 3 sessions)" in compared.judgements[0].message
    assert set(_sessions(store)[0]["steps"]) == {"c4"}  # type: ignore[arg-type]


def test_a_changed_model_or_a_moved_session_starts_the_sessions_over(tmp_path: Path) -> None:
    store = _recorded(tmp_path)
    gate_test(store, TEST_ID, fingerprint(), [_candidate()], UPDATE)
    assert len(_sessions(store)) == 1
    # 30% slower: the user is accepting a new level, not adding a sample of the old one
    slower = gate_test(store, TEST_ID, fingerprint(), [_candidate(scaled(BASE, 1.3))], UPDATE)
    assert "earlier sessions dropped: this session moved beyond tolerance" in (
        slower.judgements[0].message
    )
    assert _sessions(store) == []
    gate_test(store, TEST_ID, fingerprint(), [_candidate(scaled(BASE, 1.3))], UPDATE)
    assert len(_sessions(store)) == 1
    changed = Subject("tiny", None, ModelFiles("d2", {"1/model.py": "b"}), {}, {})
    gate = gate_test(
        store, TEST_ID, fingerprint(), [_candidate(scaled(BASE, 1.3), subject=changed)], UPDATE
    )
    assert "earlier sessions dropped: what was measured changed" in gate.judgements[0].message
    assert _sessions(store) == []
    # keep_sessions=1: only the latest, as before sessions existed
    gate_test(
        store, TEST_ID, fingerprint(), [_candidate()], GateSettings(Mode.UPDATE, keep_sessions=1)
    )
    assert _sessions(store) == []


def _paired(current: Measurement = BASE, files: str = "a") -> tuple[Paired, Subject]:
    """The baseline build (BASE) measured in turn with `current`: four block pairs per step,
    each a block of either (the pairs agree: the change is the same in all of them)."""
    subject = Subject(
        "tiny",
        None,
        ModelFiles(f"d-{files}", {"1/model.py": files}),
        {"instance_group": [{"count": 1}]},
        {"concurrency": [4]},
    )
    now = {s.load_point: s for s in current.steps}
    pairs = {s.load_point: (BlockPair(s, now[s.load_point]),) * 4 for s in BASE.steps}
    copy = BuildCopy("tiny__baseline", Path("/ci/base/model_repository"), subject.files)
    return Paired(BASE, copy, pairs), subject


def test_paired_candidates_are_judged_against_the_baseline_build_without_a_file(
    tmp_path: Path,
) -> None:
    store = BaselineStore(tmp_path)
    slow = _candidate(scaled(BASE, 1.3), paired=_paired(scaled(BASE, 1.3), files="b"))
    plain = _candidate(key="other")
    gate = gate_test(store, TEST_ID, fingerprint(), [slow, plain], COMPARE)
    paired, stored = gate.judgements
    assert paired.status is Status.REGRESSED and paired.failed
    assert "against the baseline build of 'tiny' (/ci/base/model_repository)" in paired.message
    # what differs between the two builds is named, as for a stored baseline
    assert "1/model.py changed" in paired.message
    assert "instance_group" in paired.message and "1 → 2" in paired.message
    # a model the baseline build lacks falls back to the stored baseline (none here)
    assert stored.key == "other" and stored.status is Status.NO_BASELINE
    assert not any(tmp_path.iterdir())  # compare never writes
    # the session summary says which reference each model was judged against
    paired_line, warning, stored_line = gate.summary_lines()
    # four pairs and the 3 % paired noise cannot see a 5 % tolerance, and the summary says so
    assert warning.startswith("     warning: this runner sees changes of ")
    assert "; the tolerance is 5%" in warning
    assert paired_line.startswith(f"FAIL {TEST_ID} [tiny] REGRESSED with the baseline build: ")
    assert stored_line.startswith(f"ok   {TEST_ID} [other] no baseline: ")
    # the trust benchmark counts regressions from these lines (a reworded summary once made it
    # count none in runs where every test had regressed)
    statuses, _ = _trust_benchmark().read_summary("\n".join(gate.summary_lines()))
    assert statuses == {f"{TEST_ID} [tiny]": "REGRESSED", f"{TEST_ID} [other]": "no baseline"}

    same = gate_test(store, TEST_ID, fingerprint(), [_candidate(paired=_paired())], COMPARE)
    assert same.judgements[0].status is Status.COMPARED and not same.failed


def test_paired_noise_replaces_the_run_noise(tmp_path: Path) -> None:
    # 15% slower: beyond the 5% tolerance with the default 3% paired noise; on a machine
    # where copies differ by 4% the interval reaches back inside it.
    store = BaselineStore(tmp_path)
    candidate = _candidate(scaled(BASE, 1.15), paired=_paired(scaled(BASE, 1.15)))
    paired = gate_test(store, TEST_ID, fingerprint(), [candidate], COMPARE)
    assert paired.judgements[0].status is Status.REGRESSED
    wide = GateSettings(Mode.COMPARE, paired_noise=0.04)
    assert gate_test(store, TEST_ID, fingerprint(), [candidate], wide).judgements[0].status is (
        Status.COMPARED
    )


def _trust_benchmark() -> Any:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "baseline_trust.py"
    spec = importlib.util.spec_from_file_location("baseline_trust", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


def test_trust_benchmark_keeps_the_suites_own_server_env() -> None:
    # A --triton-env on the command line replaces the ini's list: a stored-mode run that adds
    # its sleep must pass the suite's OPENBLAS_NUM_THREADS=1 again, or it measures other stubs.
    bench = _trust_benchmark()
    args = argparse.Namespace(tests=["example_suite"], record_sessions=1, pytest_arg=[])
    added = bench.pytest_command(args, Path("/w"), "compare", {"EXAMPLE_EXTRA_MS": "2"}, Path("/c"))
    envs = [added[i + 1] for i, arg in enumerate(added) if arg == "--triton-env"]
    assert envs == ["EXAMPLE_EXTRA_MS=2", "OPENBLAS_NUM_THREADS=1"]
    plain = bench.pytest_command(args, Path("/w"), "compare", {}, Path("/c"))
    assert "--triton-env" not in plain  # the ini's own list applies


def test_require_resolution_fails_a_comparison_blind_to_its_tolerance(tmp_path: Path) -> None:
    store = _recorded(tmp_path)
    strict = GateSettings(Mode.COMPARE, require_resolution=True)
    (judgement,) = gate_test(store, TEST_ID, fingerprint(), [_candidate()], strict).judgements
    assert judgement.failed and judgement.status is Status.COARSE
    assert judgement.message.startswith("this runner sees changes of ")
    assert "(failing: --triton-require-resolution is set)" in judgement.message
    # without the option the same comparison passes, and the summary says what it cannot see
    lax = gate_test(store, TEST_ID, fingerprint(), [_candidate()], COMPARE)
    assert not lax.failed
    assert lax.summary_lines()[1].startswith("     warning: this runner sees changes of ")
    # a comparison that sees its tolerance passes under the option
    sharp = GateSettings(
        Mode.COMPARE, tolerances=Tolerances(run_noise=0.0), require_resolution=True
    )
    assert not gate_test(store, TEST_ID, fingerprint(), [_candidate()], sharp).failed


def test_sessions_measured_at_another_length_still_average(tmp_path: Path) -> None:
    # --triton-size-measurement moves the window count as the calibration grows: the step's
    # values are the same quantity, so the sessions go on; other load changes start over
    store = _recorded(tmp_path)
    longer = replace(SUBJECT, load={**SUBJECT.load, "measured_windows": 12, "max_trials": 17})
    gate = gate_test(store, TEST_ID, fingerprint(), [_candidate(subject=longer)], UPDATE)
    assert "mean of 2 sessions" in gate.judgements[0].message
    heavier = replace(SUBJECT, load={**SUBJECT.load, "concurrency": [8]})
    gate = gate_test(store, TEST_ID, fingerprint(), [_candidate(subject=heavier)], UPDATE)
    assert "earlier sessions dropped: what was measured changed" in gate.judgements[0].message
