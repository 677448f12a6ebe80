"""Baselines stored in the user's repository: one diff-friendly JSON file per test.

Layout. `<dir>/<test module path without .py>/<Class.test[params]>.json`, mirroring the test
tree so a reviewer finds a test's baseline where the test is. Characters that are unsafe in file
names become `_`; that mapping is lossy, so every file records the full test id and two tests
that land on one file are an error naming both (never a silent overwrite). A test can also pick
its file name explicitly (`@pytest.mark.triton_baseline(name=...)`).

Several environments side by side. One file holds every environment the test was recorded in,
under `environments.<env_id>` (the fingerprint's short hash). Chosen over one directory per
environment because the test is what a reviewer reasons about: the pull request that changes a
test's baseline shows one file, a renamed test orphans one file, and when no environment
matches, the warning can name what differs from the nearest one without scanning other trees.
Environments are sorted by id and each is a separate JSON block, so two CI machines updating
different environments produce non-overlapping hunks that git merges.

Nothing is lost. Writes are atomic; a corrupt, foreign or newer-schema file is never
overwritten unless forced, and even then it is first moved aside to `<name>.json.invalid-<n>`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from pytest_triton.baseline import codec
from pytest_triton.baseline.atomic import atomic_write_text
from pytest_triton.baseline.envelope import FileKind, read_envelope, read_file
from pytest_triton.baseline.fingerprint import FieldDiff, Fingerprint, MatchPolicy, differences
from pytest_triton.baseline.model_identity import Subject
from pytest_triton.errors import BaselineCollisionError, BaselineError, BaselineNewerSchemaError
from pytest_triton.result import Measurement

SCHEMA = "pytest-triton/baseline"
SCHEMA_VERSION = 1

_UNSAFE = re.compile(r"[^A-Za-z0-9._\-\[\]=+,@]")
_MAX_PART = 100


@dataclass(frozen=True)
class BaselineRecord:
    """One measurement of a test (a test may measure several models) in one environment."""

    subject: Subject
    measurement: Measurement
    recorded_at: str = ""  # ISO 8601 UTC
    plugin_version: str = ""
    slo: Mapping[str, Any] = field(default_factory=dict)
    # {"cpus": 2, "foreign_cpus": {"c1": 0.05}}: what neighbours took while it was measured
    machine: Mapping[str, Any] = field(default_factory=dict)
    # Earlier sessions of the same unchanged test, oldest first (pytest_triton.baseline.history)
    sessions: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "subject": self.subject.to_dict(),
            "measurement": codec.measurement_to_dict(self.measurement),
            "recorded_at": self.recorded_at,
            "plugin_version": self.plugin_version,
            "slo": dict(self.slo),
            "machine": dict(self.machine),
        }
        if self.sessions:  # absent, a file reads as one session: as every file did before
            data["sessions"] = [dict(s) for s in self.sessions]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaselineRecord:
        return cls(
            subject=Subject.from_dict(data.get("subject") or {}),
            measurement=codec.measurement_from(data["measurement"]),
            recorded_at=str(data.get("recorded_at", "")),
            plugin_version=str(data.get("plugin_version", "")),
            slo=dict(data.get("slo") or {}),
            machine=dict(data.get("machine") or {}),
            sessions=tuple(dict(s) for s in data.get("sessions") or () if isinstance(s, Mapping)),
        )


@dataclass(frozen=True)
class BaselineEntry:
    """One environment's baseline of one test: its measurements keyed by `measurement_key`."""

    fingerprint: Fingerprint
    records: Mapping[str, BaselineRecord]

    @property
    def recorded_at(self) -> str:
        return max((r.recorded_at for r in self.records.values()), default="")

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint.to_dict(),
            "measurements": {k: r.to_dict() for k, r in sorted(self.records.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaselineEntry:
        return cls(
            fingerprint=Fingerprint.from_dict(data["fingerprint"]),
            records={str(k): BaselineRecord.from_dict(v) for k, v in data["measurements"].items()},
        )


@dataclass(frozen=True)
class BaselineFile:
    test_id: str
    environments: Mapping[str, BaselineEntry]

    def to_text(self) -> str:
        return codec.dumps(
            {
                "schema": SCHEMA,
                "schema_version": SCHEMA_VERSION,
                "test": self.test_id,
                "environments": {k: v.to_dict() for k, v in self.environments.items()},
            }
        )


@dataclass(frozen=True)
class Match:
    """The outcome of looking for a baseline that fits the current environment."""

    entry: BaselineEntry | None  # None: no environment is comparable
    env_id: str | None
    differences: tuple[FieldDiff, ...]  # vs the matched entry, else vs the nearest one
    nearest_label: str = ""  # the nearest environment, when nothing matched

    @property
    def found(self) -> bool:
        return self.entry is not None


@dataclass(frozen=True)
class StoredFile:
    """A file found while scanning the baseline directory."""

    path: Path
    test_id: str | None  # None when the file could not be read
    error: str = ""


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _safe_part(part: str) -> str:
    safe = _UNSAFE.sub("_", part) or "_"
    if set(safe) == {"."}:
        safe = safe.replace(".", "_")
    if safe.startswith("."):  # no hidden files: reviewers would not see them
        safe = "_" + safe[1:]
    if len(safe) > _MAX_PART:  # keep under filesystem limits, stay unique via a hash
        digest = hashlib.sha256(part.encode()).hexdigest()[:8]
        safe = f"{safe[: _MAX_PART - 9]}~{digest}"
    return safe


def relative_path(test_id: str, name: str | None = None) -> PurePosixPath:
    """The file (relative to the baseline directory) for a test id or an explicit name."""
    if name is not None:
        parts = [p for p in name.replace("\\", "/").split("/") if p]
        if not parts:
            raise BaselineError(f"empty baseline name {name!r} for {test_id}")
        leaf = parts[-1][:-5] if parts[-1].endswith(".json") else parts[-1]
        return PurePosixPath(*(_safe_part(p) for p in parts[:-1]), _safe_part(leaf) + ".json")
    module, _, rest = test_id.partition("::")
    dirs = [p for p in module.replace("\\", "/").split("/") if p]
    if dirs and dirs[-1].endswith(".py"):
        dirs[-1] = dirs[-1][:-3]
    leaf = ".".join(p for p in rest.split("::") if p) or "module"
    return PurePosixPath(*(_safe_part(p) for p in dirs), _safe_part(leaf) + ".json")


_KIND = FileKind(
    "baseline",
    SCHEMA,
    SCHEMA_VERSION,
    "restore it from version control (git checkout -- <file>) or re-record with "
    "--triton-baseline=update --triton-baseline-force",
    "--triton-baseline-dir",
    " (--triton-baseline-force never replaces a newer file)",
)


def parse_text(text: str, path: Path) -> BaselineFile:
    """Validate and decode a baseline file's text; BaselineError says what is wrong and why."""
    data = read_envelope(text, path, _KIND)
    try:
        test_id = str(data["test"])
        envs = {
            str(env_id): BaselineEntry.from_dict(entry)
            for env_id, entry in (data.get("environments") or {}).items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BaselineError(
            f"baseline {path} is corrupt: missing or malformed field ({exc!r}). It was left "
            "untouched: restore it from version control or re-record with "
            "--triton-baseline=update --triton-baseline-force"
        ) from exc
    return BaselineFile(test_id, envs)


def select(file: BaselineFile, current: Fingerprint, policy: MatchPolicy | None = None) -> Match:
    """The entry recorded in this environment; under a looser policy the closest comparable
    one (fewest differences, then most recent). Otherwise say what differs from the nearest."""
    exact = file.environments.get(current.env_id)
    if exact is not None:
        return Match(exact, current.env_id, tuple(differences(exact.fingerprint, current, policy)))
    ranked: list[tuple[int, int, str, str, BaselineEntry, list[FieldDiff]]] = []
    for env_id, entry in file.environments.items():
        diffs = differences(entry.fingerprint, current, policy)
        blocking = sum(d.blocking for d in diffs)
        # most recent first among equals: negate by sorting on the inverted timestamp below
        ranked.append((blocking, len(diffs), _invert(entry.recorded_at), env_id, entry, diffs))
    if not ranked:
        return Match(None, None, ())
    blocking, _, _, env_id, entry, nearest = min(ranked, key=lambda r: r[:4])
    if blocking == 0:
        return Match(entry, env_id, tuple(nearest))
    return Match(None, None, tuple(nearest), entry.fingerprint.label)


def _invert(timestamp: str) -> str:
    """A key that sorts later ISO timestamps first."""
    return "".join(chr(0x10FFFF - ord(c)) for c in timestamp)


class BaselineStore:
    """The baseline directory of a session."""

    def __init__(self, root: Path, display_root: Path | None = None) -> None:
        self.root = root
        self.display_root = display_root  # messages show paths relative to it (the rootdir)
        self._claims: dict[str, tuple[str, Path]] = {}  # casefolded rel path -> (test id, path)
        self.moved_aside: dict[Path, Path] = {}  # a forced write's unreadable file -> its copy

    def show(self, path: Path) -> str:
        """A path as messages print it: relative to the project when inside it."""
        if self.display_root is not None:
            try:
                return path.relative_to(self.display_root).as_posix()
            except ValueError:
                pass
        return str(path)

    def path_for(self, test_id: str, name: str | None = None) -> Path:
        return self.root.joinpath(*relative_path(test_id, name).parts)

    def claim(self, test_id: str, name: str | None = None) -> Path:
        """Register that `test_id` owns its file in this session; two tests on one file is an
        error naming both. Case-folded, because macOS and Windows file systems are."""
        path = self.path_for(test_id, name)
        key = str(relative_path(test_id, name)).casefold()
        owner = self._claims.get(key)
        if owner is not None and owner[0] != test_id:
            raise BaselineCollisionError(
                f"tests {owner[0]!r} and {test_id!r} map to the same baseline file "
                f"{path}: give one of them its own file with "
                "@pytest.mark.triton_baseline(name='...')"
            )
        self._claims[key] = (test_id, path)
        return path

    def read(self, test_id: str, name: str | None = None) -> BaselineFile | None:
        """The test's baseline file; None when there is none. Raises BaselineError when the
        file is unreadable or belongs to another test (a collision or a rename)."""
        path = self.path_for(test_id, name)
        text = read_file(path, _KIND)
        if text is None:
            return None
        file = parse_text(text, path)
        if file.test_id != test_id:
            raise BaselineCollisionError(
                f"baseline {path} belongs to test {file.test_id!r}, not {test_id!r}: their "
                "names map to the same file. Give this test its own file with "
                "@pytest.mark.triton_baseline(name='...'), or, if the test was renamed, rename "
                "the file's 'test' field (it was left untouched)"
            )
        return file

    def write(
        self,
        test_id: str,
        fingerprint: Fingerprint,
        records: Mapping[str, BaselineRecord],
        *,
        name: str | None = None,
        force: bool = False,
    ) -> Path:
        """Store `records` for the environment of `fingerprint`, keeping its other
        measurements and every other environment of the file.

        `force` lets an unreadable file be replaced, after moving it aside (`moved_aside`
        says where); it never takes over another test's file or replaces a newer schema's.
        """
        path = self.path_for(test_id, name)
        try:
            existing = self.read(test_id, name)
        except BaselineError as exc:
            # Only a file whose content is bad can be forced; an unreadable file or another
            # test's file cannot.
            unforceable = isinstance(
                exc, (BaselineCollisionError, BaselineNewerSchemaError)
            ) or isinstance(exc.__cause__, OSError)
            if not force or unforceable:
                raise type(exc)(
                    f"{exc}\nThe new measurement was not written"
                    + (
                        ""
                        if unforceable
                        else "; pass --triton-baseline-force to replace "
                        "the file (the old one is kept next to it as .invalid-<n>)"
                    )
                ) from exc
            self.moved_aside[path] = self._move_aside(path)
            existing = None
        environments = dict(existing.environments) if existing else {}
        env_id = fingerprint.env_id
        previous = environments.get(env_id)
        merged = dict(previous.records) if previous else {}
        merged.update(records)
        environments[env_id] = BaselineEntry(fingerprint, merged)
        ordered = dict(sorted(environments.items()))
        atomic_write_text(path, BaselineFile(test_id, ordered).to_text(), what="baseline")
        return path

    def check_writable(self) -> None:
        """Fail before measuring, not after: update mode calls this at session start."""
        probe = self.root / ".pytest-triton-write-probe"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise BaselineError(
                f"the baseline directory {self.root} is not writable ({exc.strerror or exc}): "
                "fix its permissions or choose another one with --triton-baseline-dir"
            ) from exc

    def _move_aside(self, path: Path) -> Path:
        n = 1
        while (aside := path.with_name(f"{path.name}.invalid-{n}")).exists():
            n += 1
        try:
            path.rename(aside)
        except OSError as exc:
            raise BaselineError(f"cannot move invalid baseline {path} aside: {exc}") from exc
        return aside

    def scan(self) -> list[StoredFile]:
        """Every baseline file in the directory, readable or not."""
        if not self.root.is_dir():
            return []
        found: list[StoredFile] = []
        for path in sorted(self.root.rglob("*.json")):
            try:
                file = parse_text(path.read_text(encoding="utf-8"), path)
            except (BaselineError, OSError, UnicodeDecodeError) as exc:
                found.append(StoredFile(path, None, str(exc).splitlines()[0]))
                continue
            found.append(StoredFile(path, file.test_id))
        return found

    def orphans(self, known_test_ids: Iterable[str], in_scope: Iterable[str]) -> list[StoredFile]:
        """Baselines whose test no longer exists: listed for the user, never deleted.

        Only files whose test module was part of this session count (`in_scope`: the module
        paths collected), so running one test file does not call every other baseline an
        orphan. `known_test_ids` must include deselected tests for the same reason.
        """
        known = set(known_test_ids)
        modules = set(in_scope)
        out: list[StoredFile] = []
        for stored in self.scan():
            if stored.test_id is None or stored.test_id in known:
                continue
            if stored.test_id.partition("::")[0] in modules:
                out.append(stored)
        return out


def record_for(
    subject: Subject,
    measurement: Measurement,
    slo: Mapping[str, Any] | None = None,
    plugin_version: str = "",
    machine: Mapping[str, Any] | None = None,
    sessions: tuple[Mapping[str, Any], ...] = (),
) -> BaselineRecord:
    """A new record stamped with the current time."""
    return BaselineRecord(
        subject,
        measurement,
        utc_now(),
        plugin_version,
        dict(slo or {}),
        dict(machine or {}),
        sessions,
    )
