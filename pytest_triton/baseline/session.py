"""Baselines and checkpoints across one session: what the plugin calls, free of pytest.

It caches what is costly or must not change mid-session (the environment fingerprint, model
file hashes), checkpoints every measurement as its test completes, keeps the partial steps of
the measurement in flight so Ctrl-C can save them, and collects every test's gate outcome for
the session summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_triton.baseline import codec
from pytest_triton.baseline.build import BaselineBuild
from pytest_triton.baseline.calibration import (
    MIN_SESSIONS,
    CalibrationSession,
    CalibrationStore,
    RunnerNoise,
    runner_noise,
    session_from,
)
from pytest_triton.baseline.checkpoint import Checkpoints, resume_key
from pytest_triton.baseline.fingerprint import Fingerprint, collect
from pytest_triton.baseline.gate import (
    Candidate,
    GateSettings,
    Judgement,
    Mode,
    Status,
    TestGate,
    gate_test,
    machine_from,
    machine_to_dict,
)
from pytest_triton.baseline.measurement_size import size_measurement
from pytest_triton.baseline.model_identity import ModelFiles, Subject, hash_with_composing
from pytest_triton.baseline.store import BaselineStore
from pytest_triton.errors import BaselineError
from pytest_triton.judge.guard import MachineLoad
from pytest_triton.observe import machine_load
from pytest_triton.record import MeasurementRecord, record_id
from pytest_triton.result import Measurement, StepResult
from pytest_triton.server.base import ServerIdentity
from pytest_triton.spec import SLO, LoadSpec, ModelSpec


@dataclass
class InFlight:
    """The measurement running now: enough to checkpoint it if Ctrl-C cuts it short."""

    test_id: str
    record_id: str
    key: str
    model: ModelSpec
    steps: list[StepResult] = field(default_factory=list)
    cpu: machine_load.CpuSnapshot | None = None  # at the start of the step being measured


class BaselineSession:
    def __init__(
        self,
        settings: GateSettings,
        store: BaselineStore,
        checkpoints: Checkpoints | None,
        model_repository: Path | None,
        gpu_selection: str = "all",
        plugin_version: str = "",
        build: BaselineBuild | None = None,
        calibration: CalibrationStore | None = None,
        calibrating: bool = False,
        size_from_calibration: bool = False,
    ) -> None:
        self.settings = settings
        self.store = store
        self.checkpoints = checkpoints
        self.model_repository = model_repository
        self.gpu_selection = gpu_selection
        self.plugin_version = plugin_version
        self.build = build  # --triton-baseline-build: compare with that build, paired
        self.calibration = calibration  # the runner's measured noise, per test
        # --triton-calibrate: measure identical copies (build is then the current one) and
        # keep what they show instead of judging
        self.calibrating = calibrating
        # --triton-size-measurement: each measurement as long as its calibration says the
        # tolerance needs (baseline/measurement_size.py); record id -> what was done
        self.size_from_calibration = size_from_calibration
        self.sizing_notes: dict[str, str] = {}
        self.gates: list[TestGate] = []
        self.reused: list[str] = []  # record ids taken from a checkpoint
        self.in_flight: InFlight | None = None
        # record id -> load point -> CPUs other processes used while that step ran
        # (machine_load)
        self.foreign: dict[str, dict[str, float]] = {}
        self._fingerprints: dict[ServerIdentity, Fingerprint] = {}
        self._files: dict[str, ModelFiles] = {}

    # --- identity ------------------------------------------------------------------------

    def fingerprint(self, server: ServerIdentity) -> Fingerprint:
        if server not in self._fingerprints:
            self._fingerprints[server] = collect(server, gpu_selection=self.gpu_selection)
        return self._fingerprints[server]

    def subject(self, model: ModelSpec, load: LoadSpec, effective: Mapping[str, Any]) -> Subject:
        """Model files are hashed once a session: weights can be large and do not change."""
        if model.name not in self._files:
            repo = self.model_repository
            self._files[model.name] = (
                hash_with_composing(repo, model.name, effective) if repo else ModelFiles()
            )
        return Subject(
            model.name,
            model.version,
            self._files[model.name],
            dict(effective),
            codec.load_spec_dict(load),
        )

    def _key(
        self,
        test_id: str,
        server: ServerIdentity,
        model: ModelSpec,
        load: LoadSpec,
        slo: SLO | None,
        effective: Mapping[str, Any],
    ) -> str:
        slo_values = codec.slo_dict(slo) if slo is not None else {}
        return resume_key(
            test_id, self.fingerprint(server), self.subject(model, load, effective), slo_values
        )

    # --- measuring -----------------------------------------------------------------------

    def before_measure(
        self,
        test_id: str,
        key: str,
        server: ServerIdentity,
        model: ModelSpec,
        load: LoadSpec,
        slo: SLO | None,
        effective: Mapping[str, Any],
        reusable: bool = True,
    ) -> Measurement | None:
        """Called as a measurement starts: a checkpointed one to reuse (resume, when
        `reusable`), else None after noting the measurement as in flight."""
        rid = record_id(test_id, key)
        resume = self._key(test_id, server, model, load, slo, effective)
        if self.checkpoints is not None and reusable:
            record = self.checkpoints.reusable(rid, resume)
            if record is not None:
                self.reused.append(rid)
                # the machine as it was when it was measured, so the guard still applies
                machine = machine_from(record.machine)
                if machine is not None:
                    self.foreign[rid] = dict(machine.foreign)
                return record.measurement
        # Neighbours are only measurable when the server runs in our process tree (local
        # mode); a docker or remote server's CPU would count as a neighbour's.
        local = server.kind == "local"
        cpu = machine_load.snapshot() if local else None
        self.in_flight = InFlight(test_id, rid, resume, model, cpu=cpu)
        return None

    def on_step(self, step: StepResult) -> None:
        flight = self.in_flight
        if flight is None:
            return
        flight.steps.append(step)
        if flight.cpu is not None:
            now = machine_load.snapshot()
            foreign = machine_load.foreign_cpus(flight.cpu, now) if now else None
            if foreign is not None and not step.probe:
                self.foreign.setdefault(flight.record_id, {})[step.load_point] = foreign
            flight.cpu = now

    def save_interrupted(self) -> Path | None:
        """Checkpoint the steps measured so far by an interrupted measurement (never a
        baseline: it is incomplete)."""
        flight, self.in_flight = self.in_flight, None
        if flight is None or self.checkpoints is None:
            return None
        partial = Measurement(
            flight.model.name,
            flight.model.version,
            tuple(flight.steps),
            0.0,
            notes=("interrupted by Ctrl-C",),
        )
        return self.checkpoints.record(flight.record_id, flight.key, partial, complete=False)

    # --- judging -------------------------------------------------------------------------

    def judge(
        self,
        test_id: str,
        server: ServerIdentity,
        records: Sequence[MeasurementRecord],
        *,
        tolerance_overrides: Mapping[str, float | None] | None = None,
        name: str | None = None,
        required: bool | None = None,
    ) -> TestGate:
        """Checkpoint a finished test's measurements, then gate them against the baseline."""
        self.in_flight = None
        fingerprint = self.fingerprint(server)
        settings = self.settings
        noise, note, unreadable = None, "", ""
        if settings.mode is not Mode.OFF:  # calibration only serves comparisons
            try:
                noise, note = self._runner_noise(test_id, fingerprint, name)
            except BaselineError as exc:
                unreadable = str(exc)
        candidates: list[Candidate] = []
        for r in records:
            subject = self.subject(r.model, r.load, r.effective_config)
            foreign = self.foreign.get(r.id)
            load = MachineLoad(machine_load.machine_cpus(), foreign) if foreign else None
            if not r.reused:
                self._checkpoint(r, fingerprint, subject, load, r.passed)
            paired_subject = None
            if r.paired is not None:
                copy = r.paired.copy
                paired_subject = Subject(
                    r.model.name, r.model.version, copy.files, copy.config, subject.load
                )
            candidates.append(Candidate(r, subject, load, paired_subject, noise))
        if required is not None and required != settings.required:
            settings = replace(settings, required=required)
        if unreadable:
            failed = (Judgement(c.key, Status.ERROR, unreadable, failed=True) for c in candidates)
            gate = TestGate(test_id, tuple(failed))
        else:
            gate = gate_test(
                self.store,
                test_id,
                fingerprint,
                candidates,
                settings,
                tolerance_overrides=tolerance_overrides,
                name=name,
                plugin_version=self.plugin_version,
            )
            gate = replace(gate, calibration=note)
        if settings.mode is not Mode.OFF:
            self.gates.append(gate)
        return gate

    def size(
        self,
        test_id: str,
        key: str,
        server: ServerIdentity,
        load: LoadSpec,
        paired: bool,
        tolerance_overrides: Mapping[str, float | None] | None = None,
        name: str | None = None,
    ) -> LoadSpec | None:
        """--triton-size-measurement: the load sized from the test's calibration, or None to
        measure as configured (not asked for, nothing compared, or no usable calibration: the
        verdict then says why). What was done is kept for the test's notes."""
        if not self.size_from_calibration or self.settings.mode is Mode.OFF:
            return None
        rid = record_id(test_id, key)
        try:
            sessions, note = self._calibration_sessions(test_id, self.fingerprint(server), name)
        except BaselineError:
            return None  # the verdict fails the test with the file's error
        if sessions is None:
            why = note or (
                f"no calibration of this runner (`pytest --triton-calibrate` {MIN_SESSIONS} "
                "times measures one)"
            )
            self.sizing_notes[rid] = f"measurement not sized: {why}"
            return None
        tolerances = self.settings.tolerances.with_overrides(tolerance_overrides or {})
        noise = runner_noise(sessions, tolerances.run_noise, self.settings.paired_noise)
        sized = size_measurement(
            load, sessions, noise, tolerances, self.settings.paired_noise, paired
        )
        self.sizing_notes[rid] = sized.note
        return sized.load

    def measured(self, server: ServerIdentity, record: MeasurementRecord) -> None:
        """A measurement that finished before its test is judged (a search's config):
        checkpointed now, so that a killed session resumes after it."""
        self.in_flight = None
        subject = self.subject(record.model, record.load, record.effective_config)
        foreign = self.foreign.get(record.id)
        load = MachineLoad(machine_load.machine_cpus(), foreign) if foreign else None
        self._checkpoint(record, self.fingerprint(server), subject, load, None)

    def _checkpoint(
        self,
        record: MeasurementRecord,
        fingerprint: Fingerprint,
        subject: Subject,
        load: MachineLoad | None,
        slo_passed: bool | None,
    ) -> None:
        if self.checkpoints is None:
            return
        slo_values = codec.slo_dict(record.slo) if record.slo is not None else {}
        self.checkpoints.record(
            record.id,
            resume_key(record.test_id, fingerprint, subject, slo_values),
            record.measurement,
            complete=True,
            slo_passed=slo_passed,
            machine=machine_to_dict(load),
        )

    def _runner_noise(
        self, test_id: str, fingerprint: Fingerprint, name: str | None
    ) -> tuple[RunnerNoise | None, str]:
        """The noise this runner's calibration measured for the test, and a note when there is
        something to say about it (none yet, too few sessions, another environment's)."""
        sessions, note = self._calibration_sessions(test_id, fingerprint, name)
        if sessions is None:
            return None, note
        tolerances = self.settings.tolerances
        return runner_noise(sessions, tolerances.run_noise, self.settings.paired_noise), ""

    def _calibration_sessions(
        self, test_id: str, fingerprint: Fingerprint, name: str | None
    ) -> tuple[Sequence[CalibrationSession] | None, str]:
        """This runner's calibration sessions of the test when there are enough to use, else
        None and a note when there is something to say (none yet, too few, another
        environment's)."""
        if self.calibration is None:
            return None, ""
        file = self.calibration.read(test_id, name)
        sessions = file.sessions_for(fingerprint) if file is not None else None
        tolerances = self.settings.tolerances
        how = (
            f"`pytest --triton-calibrate` {MIN_SESSIONS} times on this runner measures its "
            f"noise, which comparisons then use instead of the assumed --triton-run-noise "
            f"{tolerances.run_noise * 100:g}%"
        )
        if sessions is None:
            if file is not None and file.environments:
                shown = self.store.show(self.calibration.path_for(test_id, name))
                return None, (
                    f"the calibration in {shown} is of another environment and is not used "
                    f"here: {how}"
                )
            if self.settings.mode is Mode.UPDATE:
                return None, f"no calibration of this runner: {how}"
            return None, ""
        if len(sessions) < MIN_SESSIONS:
            return None, (
                f"{len(sessions)} calibration session(s) of this runner, {MIN_SESSIONS} needed "
                "before comparisons use them"
            )
        return sessions, ""

    def calibrate(
        self,
        test_id: str,
        server: ServerIdentity,
        records: Sequence[MeasurementRecord],
        name: str | None = None,
    ) -> list[tuple[str, bool]]:
        """--triton-calibrate: keep what each A/A measurement showed; per record a message and
        whether it is a failure (a calibration that cannot be written)."""
        self.in_flight = None
        if self.calibration is None:
            raise ValueError("calibrate() needs a calibration store")
        fingerprint = self.fingerprint(server)
        out: list[tuple[str, bool]] = []
        for r in records:
            if r.paired is None:
                out.append(
                    (
                        f"{r.key!r} not calibrated: its model is not in the model repository "
                        "(--triton-model-repository), so no identical copy could be loaded",
                        False,
                    )
                )
                continue
            session = session_from(r.measurement, r.paired)
            try:
                path, count = self.calibration.add_session(test_id, fingerprint, session, name)
            except BaselineError as exc:
                out.append((str(exc), True))
                continue
            needed = max(0, MIN_SESSIONS - count)
            status = (
                f"{needed} more needed before comparisons use it"
                if needed
                else "comparisons on this runner now use it"
            )
            shown = self.store.show(path)
            message = f"calibration session {count} of {r.key!r} written to {shown}: {status}"
            out.append((message, False))
        return out
