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
from pytest_triton.baseline.checkpoint import Checkpoints, resume_key
from pytest_triton.baseline.fingerprint import Fingerprint, collect
from pytest_triton.baseline.gate import (
    Candidate,
    GateSettings,
    Mode,
    TestGate,
    gate_test,
    machine_from,
    machine_to_dict,
)
from pytest_triton.baseline.model_identity import ModelFiles, Subject, hash_model_dir
from pytest_triton.baseline.store import BaselineStore
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
    ) -> None:
        self.settings = settings
        self.store = store
        self.checkpoints = checkpoints
        self.model_repository = model_repository
        self.gpu_selection = gpu_selection
        self.plugin_version = plugin_version
        self.build = build  # --triton-baseline-build: compare with that build, paired
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
            self._files[model.name] = hash_model_dir(repo / model.name) if repo else ModelFiles()
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
        candidates: list[Candidate] = []
        for r in records:
            subject = self.subject(r.model, r.load, r.effective_config)
            foreign = self.foreign.get(r.id)
            load = MachineLoad(machine_load.machine_cpus(), foreign) if foreign else None
            if self.checkpoints is not None and not r.reused:
                slo_values = codec.slo_dict(r.slo) if r.slo is not None else {}
                self.checkpoints.record(
                    r.id,
                    resume_key(test_id, fingerprint, subject, slo_values),
                    r.measurement,
                    complete=True,
                    slo_passed=r.passed,
                    machine=machine_to_dict(load),
                )
            paired_subject = None
            if r.paired is not None:
                copy = r.paired.copy
                paired_subject = Subject(
                    r.model.name, r.model.version, copy.files, copy.config, subject.load
                )
            candidates.append(Candidate(r, subject, load, paired_subject))
        settings = self.settings
        if required is not None and required != settings.required:
            settings = replace(settings, required=required)
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
        if settings.mode is not Mode.OFF:
            self.gates.append(gate)
        return gate
