"""Measurements checkpointed as tests complete, so an interrupted session loses nothing.

Model Analyzer's scheme: files named by consecutive non-negative integers (`0.ckpt`, `1.ckpt`,
...), the highest is the latest. A session that records anything writes one new index (the
latest + 1) and rewrites only that file as tests complete; older checkpoints are never touched,
so a crash mid-session cannot damage the previous state.

Resume reuses a measurement only when its full key matches exactly: the test, the complete
environment fingerprint, the model's files, its effective config, the load spec and the SLO.
Anything else is measured again: a stale checkpoint (Model Analyzer's issue #805) must never
stand in for a measurement of something that changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_triton.baseline import codec
from pytest_triton.baseline.atomic import atomic_write_text
from pytest_triton.baseline.fingerprint import Fingerprint
from pytest_triton.baseline.model_identity import Subject
from pytest_triton.baseline.store import utc_now
from pytest_triton.errors import BaselineError
from pytest_triton.result import Measurement

SCHEMA = "pytest-triton/checkpoint"
SCHEMA_VERSION = 1
_NAME = re.compile(r"^(0|[1-9][0-9]*)\.ckpt$")


def resume_key(
    test_id: str,
    fingerprint: Fingerprint,
    subject: Subject,
    slo: Mapping[str, Any] | None = None,
) -> str:
    """sha256 over everything a measurement depends on; equal keys <=> reusable."""
    material = {
        "test": test_id,
        "fingerprint": fingerprint.to_dict(),  # all fields: resume is same-machine by nature
        "subject": subject.to_dict(),
        "slo": dict(slo or {}),
    }
    blob = json.dumps(codec.plain(material), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class CheckpointRecord:
    record_id: str  # the test id plus which of its measurements: "tests/t.py::test_a [tiny]"
    key: str
    measurement: Measurement
    complete: bool  # False: the session was interrupted during this measurement
    slo_passed: bool | None = None  # None: not judged (interrupted, or no SLO)
    recorded_at: str = ""
    machine: Mapping[str, Any] = field(default_factory=dict)  # as in baseline records

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "measurement": codec.measurement_to_dict(self.measurement),
            "complete": self.complete,
            "slo_passed": self.slo_passed,
            "recorded_at": self.recorded_at,
            "machine": dict(self.machine),
        }

    @classmethod
    def from_dict(cls, record_id: str, data: Mapping[str, Any]) -> CheckpointRecord:
        slo_passed = data.get("slo_passed")
        return cls(
            record_id=record_id,
            key=str(data["key"]),
            measurement=codec.measurement_from(data["measurement"]),
            complete=bool(data["complete"]),
            slo_passed=None if slo_passed is None else bool(slo_passed),
            recorded_at=str(data.get("recorded_at", "")),
            machine=dict(data.get("machine") or {}),
        )


def indices(directory: Path) -> list[int]:
    """The checkpoint numbers present, ascending (other files are ignored)."""
    if not directory.is_dir():
        return []
    return sorted(int(m.group(1)) for p in directory.iterdir() if (m := _NAME.match(p.name)))


def read_checkpoint(path: Path) -> dict[str, CheckpointRecord]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BaselineError(
            f"checkpoint {path} is corrupt ({exc}); it was left untouched. Delete it to resume "
            "from the previous checkpoint, or run without --triton-resume"
        ) from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BaselineError(f"{path} is not a pytest-triton checkpoint; it was left untouched")
    version = data.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise BaselineError(
            f"checkpoint {path} has schema version {version!r}; this pytest-triton reads up to "
            f"{SCHEMA_VERSION}. Run without --triton-resume (a new checkpoint will be written "
            "next to it)"
        )
    try:
        return {
            str(record_id): CheckpointRecord.from_dict(str(record_id), record)
            for record_id, record in (data.get("records") or {}).items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BaselineError(
            f"checkpoint {path} is corrupt (malformed record: {exc!r}); it was left untouched"
        ) from exc


class Checkpoints:
    """The checkpoint directory, as seen by one session."""

    def __init__(self, directory: Path, *, resume: bool = False, keep: int = 0) -> None:
        self.directory = directory
        self.resume = resume
        self.keep = keep  # files kept once this session writes its own (0: all)
        present = indices(directory)
        self.loaded_from: Path | None = None
        self._records: dict[str, CheckpointRecord] = {}
        if resume and present:
            self.loaded_from = directory / f"{present[-1]}.ckpt"
            # A resumed session carries the earlier records forward, so interrupting it again
            # and resuming once more still finds them.
            self._records = read_checkpoint(self.loaded_from)
        self.index = present[-1] + 1 if present else 0
        self._claimed = False  # whether this session's file exists (made by its first save)

    @property
    def path(self) -> Path:
        """The file this session writes (created on the first record)."""
        return self.directory / f"{self.index}.ckpt"

    @property
    def records(self) -> Mapping[str, CheckpointRecord]:
        return dict(self._records)

    def reusable(self, record_id: str, key: str) -> CheckpointRecord | None:
        """The record of a completed measurement of exactly this key, when resuming."""
        if not self.resume:
            return None
        record = self._records.get(record_id)
        if record is None or record.key != key or not record.complete:
            return None
        return record

    def record(
        self,
        record_id: str,
        key: str,
        measurement: Measurement,
        *,
        complete: bool,
        slo_passed: bool | None = None,
        machine: Mapping[str, Any] | None = None,
    ) -> Path:
        """Add (or replace) a measurement's record and save at once."""
        self._records[record_id] = CheckpointRecord(
            record_id, key, measurement, complete, slo_passed, utc_now(), dict(machine or {})
        )
        return self.save()

    def save(self) -> Path:
        text = codec.dumps(
            {
                "schema": SCHEMA,
                "schema_version": SCHEMA_VERSION,
                "records": {t: r.to_dict() for t, r in sorted(self._records.items())},
            }
        )
        if not self._claimed:
            self._claim()
        atomic_write_text(self.path, text, what="checkpoint")
        return self.path

    def _claim(self) -> None:
        """Create this session's file exclusively: two sessions started together both chose
        the next index, and the second one's saves replaced the first one's checkpoint."""
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:
                self.index += 1
                continue
            except OSError as exc:
                raise BaselineError(
                    f"cannot create checkpoint {self.path}: {exc.strerror or exc}"
                ) from exc
            self._claimed = True
            self._prune()
            return

    def _prune(self) -> None:
        """Delete the oldest checkpoints beyond `keep`, this session's own among those kept.
        Only a session that wrote one prunes, so a directory is never emptied by reading it;
        with `keep` above the sessions that run at once, none deletes another's file."""
        if self.keep <= 0:
            return
        older = [i for i in indices(self.directory) if i < self.index]
        for index in older[: max(0, len(older) - (self.keep - 1))]:
            (self.directory / f"{index}.ckpt").unlink(missing_ok=True)
