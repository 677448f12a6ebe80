"""The baseline gate of one test: compare with (or update) its stored baseline, per mode.

This is the whole policy the issue asks for, kept out of the plugin so it is testable and usable
without pytest:

* compare never writes; no baseline passes with a visible note (fails when `required`);
* an environment mismatch is no comparison plus a warning naming what differs (a failure only
  when `required`: then this environment has no baseline);
* update writes only measurements that completed and met their SLO, and still reports how they
  compare with what they replace;
* a change of model files, config or load never blocks a comparison: it is named in the message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from pytest_triton.baseline.calibration import RunnerNoise
from pytest_triton.baseline.codec import slo_dict
from pytest_triton.baseline.fingerprint import FieldDiff, Fingerprint, MatchPolicy
from pytest_triton.baseline.history import DEFAULT_KEEP, kept_sessions
from pytest_triton.baseline.model_identity import Subject, subject_changes
from pytest_triton.baseline.store import (
    BaselineEntry,
    BaselineFile,
    BaselineRecord,
    BaselineStore,
    Match,
    record_for,
    select,
)
from pytest_triton.errors import BaselineError, ConfigError
from pytest_triton.judge.guard import MachineLoad
from pytest_triton.judge.tolerance import Tolerances
from pytest_triton.judge.verdict import Verdict, compare
from pytest_triton.record import MeasurementRecord
from pytest_triton.result import Measurement


class Mode(Enum):
    COMPARE = "compare"
    UPDATE = "update"
    OFF = "off"

    @classmethod
    def parse(cls, text: str) -> Mode:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ConfigError(f"baseline mode {text!r}: use compare, update or off") from None


class Status(Enum):
    COMPARED = "compared"
    REGRESSED = "REGRESSED"
    NO_BASELINE = "no baseline"
    ENV_MISMATCH = "environment mismatch"
    UPDATED = "updated"
    NOT_UPDATED = "not updated"
    ERROR = "baseline error"
    COARSE = "resolution too coarse"  # --triton-require-resolution: cannot see its tolerance
    OFF = "off"


@dataclass(frozen=True)
class GateSettings:
    mode: Mode = Mode.COMPARE
    required: bool = False  # no baseline for this environment fails the test
    match: MatchPolicy = field(default_factory=MatchPolicy)
    tolerances: Tolerances = field(default_factory=Tolerances)
    force: bool = False  # update may replace a corrupt / foreign file (moved aside first)
    # Sessions an update averages while nothing measured changed (pytest_triton.baseline.
    # sessions); 1 keeps only the latest.
    keep_sessions: int = DEFAULT_KEEP
    # With --triton-baseline-build: the relative SD each build's copy adds as a whole (beyond
    # what its block pairs show) when both are measured in turn on one server (stands in for
    # the tolerances' run noise). A model's process keeps a speed of its own while it lives:
    # identical copies read up to 12.6 % apart in a session (docs/validation.md).
    paired_noise: float = 0.03
    # A comparison that cannot see a tolerance (Row.blind) fails instead of warning.
    require_resolution: bool = False


@dataclass(frozen=True)
class Candidate:
    """A test's measurement as the gate weighs it: its record, with what the baseline session
    found out about it (the model's files and config, the machine's load)."""

    record: MeasurementRecord
    subject: Subject
    machine: MachineLoad | None = None  # None: not sampled (remote/docker server, not Linux)
    # the baseline build's copy (record.paired), as a subject to name what differs
    paired_subject: Subject | None = None
    # the runner's noise measured by calibration (baseline/calibration.py), when there is one
    noise: RunnerNoise | None = None

    @property
    def key(self) -> str:
        return self.record.key

    @property
    def measurement(self) -> Measurement:
        return self.record.measurement


def machine_to_dict(load: MachineLoad | None) -> dict[str, Any]:
    if load is None:
        return {}
    return {
        "cpus": load.cpus,
        "foreign_cpus": dict(sorted(load.foreign.items())),
    }


def machine_from(data: Mapping[str, Any]) -> MachineLoad | None:
    if not data:
        return None
    foreign = {str(k): float(v) for k, v in (data.get("foreign_cpus") or {}).items()}
    return MachineLoad(int(data.get("cpus") or 1), foreign)


@dataclass(frozen=True)
class Judgement:
    key: str
    status: Status
    message: str
    failed: bool = False
    verdict: Verdict | None = None
    paired: bool = False  # judged against the baseline build measured in turn, not a file


@dataclass(frozen=True)
class TestGate:
    """The gate's outcome for one test: what the test reports and the session summary lists."""

    __test__ = False  # a dataclass named Test*: not a test class for pytest to collect

    test_id: str
    judgements: tuple[Judgement, ...]
    path: Path | None = None
    calibration: str = ""  # what the runner's calibration did for it, when worth saying

    @property
    def failed(self) -> bool:
        return any(j.failed for j in self.judgements)

    def failure_message(self) -> str:
        return "\n\n".join(j.message for j in self.judgements if j.failed)

    def notes(self) -> list[str]:
        """What a passing test shows (no baseline, mismatch, improvements, warnings)."""
        shown = [j.message for j in self.judgements if not j.failed and j.status is not Status.OFF]
        return shown + ([self.calibration] if self.calibration else [])

    def summary_lines(self) -> list[str]:
        lines = []
        for j in self.judgements:
            head = "FAIL" if j.failed else "ok  "
            compared = j.verdict is not None and j.status in (Status.COMPARED, Status.REGRESSED)
            detail = j.verdict.summary() if compared and j.verdict else j.message.splitlines()[0]
            status = j.status.value + (" with the baseline build" if j.paired else "")
            lines.append(f"{head} {self.test_id} [{j.key}] {status}: {detail}")
            if compared and j.verdict is not None and j.verdict.blind:
                lines.append(f"     warning: {j.verdict.blindness()}")
        return lines


def _describe_env_diffs(diffs: Sequence[FieldDiff], policy: MatchPolicy) -> list[str]:
    """Non-blocking environment differences, said out loud: a comparison across a driver update
    under a loose policy is the user's choice, but they should see it."""
    notes = []
    for d in diffs:
        if d.blocking:
            continue
        why = "ignored by the match policy" if d.name in policy.ignored else "not blocking"
        notes.append(f"environment {d.describe()} ({why})")
    return notes


def _mismatch_message(match: Match, file_path: str) -> str:
    differing = "; ".join(d.describe() for d in match.differences if d.blocking)
    fields = ",".join(d.name for d in match.differences if d.blocking)
    return (
        f"environment mismatch, not compared: the baseline in {file_path} was recorded on "
        f"{match.nearest_label or 'another machine'}, which differs in {differing}. Record "
        "this environment with --triton-baseline=update (environments live side by side), "
        f"or opt into a looser match with --triton-baseline-match=loose or ={fields}"
    )


def _compare_one(
    candidate: Candidate,
    entry: BaselineEntry,
    match: Match,
    settings: GateSettings,
    tolerances: Tolerances,
) -> tuple[Verdict | None, BaselineRecord | None]:
    record = entry.records.get(candidate.key)
    if record is None:
        return None, None
    notes = subject_changes(record.subject, candidate.subject)
    notes.extend(_describe_env_diffs(match.differences, settings.match))
    verdict = compare(
        record.measurement,
        candidate.measurement,
        tolerances,
        notes,
        baseline_load=machine_from(record.machine),
        current_load=candidate.machine,
        earlier_sessions=record.sessions,
        noise=candidate.noise.run if candidate.noise is not None else None,
    )
    return verdict, record


def _label(candidate: Candidate, record: BaselineRecord | None, entry: BaselineEntry) -> str:
    when = f" recorded {record.recorded_at}" if record and record.recorded_at else ""
    mean = f" (mean of {len(record.sessions) + 1} sessions)" if record and record.sessions else ""
    return (
        f"baseline of {candidate.key!r}{when}{mean} on {entry.fingerprint.label}"
        f"{_calibrated(candidate)}"
    )


def _calibrated(candidate: Candidate) -> str:
    noise = candidate.noise
    if noise is None:
        return ""
    return f", with the noise {noise.sessions} calibration sessions measured on this runner"


def gate_test(
    store: BaselineStore,
    test_id: str,
    fingerprint: Fingerprint,
    candidates: Sequence[Candidate],
    settings: GateSettings,
    *,
    tolerance_overrides: Mapping[str, float | None] | None = None,
    name: str | None = None,
    plugin_version: str = "",
) -> TestGate:
    """Judge (compare mode) or record (update mode) every measurement of one test."""
    if settings.mode is Mode.OFF or not candidates:
        return TestGate(
            test_id, tuple(Judgement(c.key, Status.OFF, "baselines off") for c in candidates)
        )
    tolerances = settings.tolerances.with_overrides(tolerance_overrides or {})
    path = store.path_for(test_id, name)
    shown = store.show(path)
    try:
        file = store.read(test_id, name)
        read_error = ""
    except BaselineError as exc:
        file, read_error = None, str(exc)
    if settings.mode is Mode.COMPARE:
        stored = [c for c in candidates if c.record.paired is None]
        judged = iter(
            _compare_mode(file, read_error, shown, fingerprint, stored, settings, tolerances)
            if stored
            else []
        )
        return TestGate(
            test_id,
            tuple(
                next(judged) if c.record.paired is None else _paired_mode(c, tolerances, settings)
                for c in candidates
            ),
            path,
        )
    return _update_mode(
        store,
        test_id,
        file,
        path,
        fingerprint,
        candidates,
        settings,
        tolerances,
        name,
        plugin_version,
    )


def _compare_mode(
    file: BaselineFile | None,
    read_error: str,
    shown: str,
    fingerprint: Fingerprint,
    candidates: Sequence[Candidate],
    settings: GateSettings,
    tolerances: Tolerances,
) -> list[Judgement]:
    if read_error:
        return [Judgement(c.key, Status.ERROR, read_error, failed=True) for c in candidates]
    out: list[Judgement] = []
    if file is None or not file.environments:
        for c in candidates:
            msg = (
                f"no baseline for {c.key!r} ({shown} does not exist): not compared. Record "
                "one with --triton-baseline=update"
            )
            out.append(_no_baseline(c.key, msg, settings.required))
        return out
    match = select(file, fingerprint, settings.match)
    if match.entry is None:
        msg = _mismatch_message(match, shown)
        return [
            Judgement(
                c.key,
                Status.ENV_MISMATCH,
                msg + (" (failing: baselines are required)" if settings.required else ""),
                failed=settings.required,
            )
            for c in candidates
        ]
    for c in candidates:
        verdict, record = _compare_one(c, match.entry, match, settings, tolerances)
        if verdict is None:
            msg = (
                f"no baseline for {c.key!r} in this environment (the file {shown} has "
                f"{', '.join(sorted(match.entry.records)) or 'no measurements'}): not "
                "compared. Record it with --triton-baseline=update"
            )
            out.append(_no_baseline(c.key, msg, settings.required))
            continue
        label = _label(c, record, match.entry)
        if verdict.regressed:
            head = f"performance regression against the {label}:"
            out.append(
                Judgement(
                    c.key,
                    Status.REGRESSED,
                    f"{head}\n{verdict.message()}",
                    failed=True,
                    verdict=verdict,
                )
            )
        else:
            head = f"compared with the {label}: {verdict.summary()}"
            out.append(_compared(c.key, head, verdict, settings))
    return out


def _compared(
    key: str, head: str, verdict: Verdict, settings: GateSettings, paired: bool = False
) -> Judgement:
    """A comparison that found no regression: a pass, unless it could not have seen one of
    its tolerances and the user requires that it can."""
    message = f"{head}\n{verdict.message()}"
    if settings.require_resolution and verdict.blind:
        return Judgement(
            key,
            Status.COARSE,
            f"{verdict.blindness()} (failing: --triton-require-resolution is set)\n{message}",
            failed=True,
            verdict=verdict,
            paired=paired,
        )
    return Judgement(key, Status.COMPARED, message, verdict=verdict, paired=paired)


def _paired_mode(candidate: Candidate, tolerances: Tolerances, settings: GateSettings) -> Judgement:
    """Judge against the baseline build measured in turn on this server: same machine, same
    moment, so the environment matches by construction and the session-to-session run noise
    gives way to the paired noise; the stored baseline is not consulted."""
    paired = candidate.record.paired
    assert paired is not None and candidate.paired_subject is not None
    verdict = compare(
        paired.measurement,
        candidate.measurement,
        replace(tolerances, run_noise=settings.paired_noise),
        subject_changes(candidate.paired_subject, candidate.subject),
        pairs=paired.pairs,
        noise=candidate.noise.paired if candidate.noise is not None else None,
    )
    label = (
        f"the baseline build of {candidate.subject.model!r} ({paired.copy.repository}), measured "
        f"in turn with it{_calibrated(candidate)}"
    )
    if verdict.regressed:
        return Judgement(
            candidate.key,
            Status.REGRESSED,
            f"performance regression against {label}:\n{verdict.message()}",
            failed=True,
            verdict=verdict,
            paired=True,
        )
    head = f"compared with {label}: {verdict.summary()}"
    return _compared(candidate.key, head, verdict, settings, paired=True)


def _busy_warning(machine: MachineLoad | None, tolerances: Tolerances) -> str:
    """A reference measured while neighbours took a share of the machine makes every later
    run look faster and hides real slowdowns: say so when writing it."""
    guard = tolerances.contention_guard
    if machine is None or guard is None or not machine.foreign:
        return ""
    busy = {p: f for p, f in machine.foreign.items() if f > guard * machine.cpus}
    if not busy:
        return ""
    worst = max(busy.values())
    return (
        f". WARNING: other processes used up to {worst:.2f} of {machine.cpus} CPUs while "
        f"{', '.join(sorted(busy))} was measured; re-record this baseline on a quieter machine"
    )


def _no_baseline(key: str, message: str, required: bool) -> Judgement:
    if required:
        message += " (failing: --triton-baseline-required is set)"
    return Judgement(key, Status.NO_BASELINE, message, failed=required)


def _update_mode(
    store: BaselineStore,
    test_id: str,
    file: BaselineFile | None,
    path: Path,
    fingerprint: Fingerprint,
    candidates: Sequence[Candidate],
    settings: GateSettings,
    tolerances: Tolerances,
    name: str | None,
    plugin_version: str,
) -> TestGate:
    match = select(file, fingerprint, settings.match) if file is not None else None
    exact = match.entry if match is not None and match.env_id == fingerprint.env_id else None
    to_write: dict[str, BaselineRecord] = {}
    judged: dict[str, Judgement] = {}
    previous: dict[str, tuple[Verdict | None, str]] = {}
    for c in candidates:
        if not c.record.passed:
            judged[c.key] = Judgement(
                c.key,
                Status.NOT_UPDATED,
                f"baseline of {c.key!r} not updated: the measurement did "
                "not meet its SLO (a failing run must not become the "
                "reference)",
            )
            continue
        verdict, old = None, None
        if exact is not None and match is not None:
            verdict, old = _compare_one(c, exact, match, settings, tolerances)
        slo = slo_dict(c.record.slo) if c.record.slo is not None else {}
        sessions, note = kept_sessions(old, c.subject, slo, verdict, settings.keep_sessions)
        previous[c.key] = verdict, note
        to_write[c.key] = record_for(
            c.subject, c.measurement, slo, plugin_version, machine_to_dict(c.machine), sessions
        )
    if not to_write:
        return TestGate(test_id, tuple(judged[c.key] for c in candidates), path)
    try:
        written = store.write(test_id, fingerprint, to_write, name=name, force=settings.force)
    except BaselineError as exc:
        for key in to_write:
            judged[key] = Judgement(key, Status.ERROR, str(exc), failed=True)
        return TestGate(test_id, tuple(judged[c.key] for c in candidates), path)
    for c in candidates:
        if c.key not in to_write:
            continue
        verdict, note = previous[c.key]
        was = f"; against the previous baseline: {verdict.summary()}" if verdict else ""
        was += f"; {note}" if note else ""
        was += _busy_warning(c.machine, tolerances)
        aside = store.moved_aside.get(written)
        was += (
            f"; the unreadable file it replaced was moved to {store.show(aside)}" if aside else ""
        )
        judged[c.key] = Judgement(
            c.key,
            Status.UPDATED,
            f"baseline of {c.key!r} written to {store.show(written)}{was}",
            verdict=verdict,
        )
    return TestGate(test_id, tuple(judged[c.key] for c in candidates), written)
