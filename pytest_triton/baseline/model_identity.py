"""What was measured: the model's files, its effective config and the load applied.

None of this blocks a comparison. A changed model or config is exactly what a performance gate
exists to judge, so the comparison still runs and its message names the change
("model.py changed; instance_group count 2 → 1") so a reviewer knows what the verdict is about.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_triton.baseline.codec import load_with_defaults
from pytest_triton.filehash import sha256_file

# Build leftovers that change without the model changing.
_SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".ipynb_checkpoints"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo", ".swp", "~")


@dataclass(frozen=True)
class ModelFiles:
    """sha256 of every file under a model directory, and one digest over all of them."""

    digest: str = ""
    files: Mapping[str, str] = field(default_factory=dict)  # relative posix path -> sha256

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "files": dict(sorted(self.files.items()))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelFiles:
        files = data.get("files") or {}
        return cls(str(data.get("digest", "")), {str(k): str(v) for k, v in files.items()})


def model_files(directory: Path) -> list[tuple[str, Path]]:
    """The files that make up a model directory, as (relative posix path, path), sorted;
    build leftovers (__pycache__, editor files) are not part of the model."""
    if not directory.is_dir():
        return []
    out: list[tuple[str, Path]] = []
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory)
        if any(part in _SKIPPED_DIRS for part in rel.parts):
            continue
        if path.is_file() and not path.name.endswith(_SKIPPED_SUFFIXES):
            out.append((rel.as_posix(), path))
    return out


def hash_model_dir(directory: Path) -> ModelFiles:
    """Hash a model directory (config.pbtxt, version folders, weights, model.py ...).

    The overall digest covers relative paths as well as contents, so a renamed or moved file
    changes it; symlinks are followed because model repositories often link large weights.
    """
    return files_digest({rel: sha256_file(path) for rel, path in model_files(directory)})


def hash_with_composing(repository: Path, model: str, config: Mapping[str, Any]) -> ModelFiles:
    """A model's files and, for an ensemble, each composing model's files under its name
    ('preprocess/1/model.py'), nested ensembles included: a change in a step is named."""
    files = dict(hash_model_dir(repository / model).files)
    seen = {model}
    pending = list(ensemble_steps(config))
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        seen.add(name)
        for rel, digest in hash_model_dir(repository / name).files.items():
            files[f"{name}/{rel}"] = digest
        pending.extend(ensemble_steps(_repository_config(repository / name)))
    return files_digest(files)


def ensemble_steps(config: Mapping[str, Any]) -> list[str]:
    """The models an ensemble's scheduling steps run (none for any other model)."""
    steps = (config.get("ensemble_scheduling") or {}).get("step") or []
    return [str(s["model_name"]) for s in steps if isinstance(s, Mapping) and s.get("model_name")]


def _repository_config(directory: Path) -> Mapping[str, Any]:
    """A model directory's config.pbtxt as Triton's JSON form ({} when absent or unreadable):
    only a nested ensemble's steps are read from it."""
    path = directory / "config.pbtxt"
    if not path.is_file():
        return {}
    try:
        from google.protobuf import json_format, text_format
        from tritonclient.grpc import model_config_pb2

        message = text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
        parsed: dict[str, Any] = json_format.MessageToDict(
            message, preserving_proto_field_name=True
        )
    except Exception:  # a config Triton would refuse fails its load, with Triton's words
        return {}
    return parsed


def files_digest(files: Mapping[str, str]) -> ModelFiles:
    """ModelFiles from the sha256 of each file (relative posix path -> hex digest)."""
    if not files:
        return ModelFiles()
    overall = hashlib.sha256()
    for rel_path, digest in sorted(files.items()):
        overall.update(f"{rel_path}\0{digest}\n".encode())
    return ModelFiles(overall.hexdigest(), files)


def file_changes(baseline: ModelFiles, current: ModelFiles) -> list[str]:
    """'1/model.py changed', 'weights.bin added', ... ; [] when either side is unknown."""
    if not baseline.digest or not current.digest or baseline.digest == current.digest:
        return []
    out: list[str] = []
    for name in sorted(set(baseline.files) | set(current.files)):
        old, new = baseline.files.get(name), current.files.get(name)
        if old is None:
            out.append(f"{name} added")
        elif new is None:
            out.append(f"{name} removed")
        elif old != new:
            out.append(f"{name} changed")
    return out


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        text = "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
        return text if len(text) <= 60 else "{...}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value) if not isinstance(value, bool) else str(value).lower()


def _keyed(items: Sequence[Any]) -> dict[str, Any] | None:
    """Lists of named entries (inputs, outputs, ensemble steps) are matched by name, not by
    position: reordering inputs is not a change worth reporting."""
    names: list[str] = []
    for item in items:
        if not isinstance(item, Mapping):
            return None
        name = item.get("name") or item.get("model_name")
        if not isinstance(name, str) or not name:
            return None
        names.append(name)
    if len(set(names)) != len(names):
        return None
    return dict(zip(names, items, strict=True))


def config_changes(baseline: Any, current: Any, path: tuple[str, ...] = ()) -> list[str]:
    """Human-readable differences between two model configs (Triton's JSON form).

    Path parts are joined by spaces and a one-entry list adds no index, so the common case
    reads as Triton users say it: "instance_group count 2 → 1".
    """
    where = " ".join(path) or "config"
    if isinstance(baseline, Mapping) and isinstance(current, Mapping):
        out: list[str] = []
        for key in sorted(set(baseline) | set(current), key=str):
            if key not in current:
                out.append(f"{' '.join((*path, str(key)))} removed")
            elif key not in baseline:
                out.append(f"{' '.join((*path, str(key)))} added: {_show(current[key])}")
            else:
                out.extend(config_changes(baseline[key], current[key], (*path, str(key))))
        return out
    if isinstance(baseline, (list, tuple)) and isinstance(current, (list, tuple)):
        one_each = len(baseline) == 1 and len(current) == 1
        if one_each and isinstance(baseline[0], Mapping) and isinstance(current[0], Mapping):
            return config_changes(baseline[0], current[0], path)
        old_keyed, new_keyed = _keyed(baseline), _keyed(current)
        if old_keyed is not None and new_keyed is not None:
            return config_changes(old_keyed, new_keyed, path)
        if len(baseline) == len(current) and all(
            isinstance(v, Mapping) for v in (*baseline, *current)
        ):
            out = []
            for i, (old, new) in enumerate(zip(baseline, current, strict=True)):
                out.extend(config_changes(old, new, (*path, f"[{i}]")))
            return out
        if list(baseline) != list(current):
            return [f"{where} {_show(list(baseline))} → {_show(list(current))}"]
        return []
    if baseline != current:
        return [f"{where} {_show(baseline)} → {_show(current)}"]
    return []


@dataclass(frozen=True)
class Subject:
    """What a measurement was of: recorded with every baseline, compared only to explain."""

    model: str
    version: str | None = None
    files: ModelFiles = field(default_factory=ModelFiles)
    config: Mapping[str, Any] = field(default_factory=dict)  # effective config (Triton's JSON)
    load: Mapping[str, Any] = field(default_factory=dict)  # the LoadSpec as plain values

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "files": self.files.to_dict(),
            "config": dict(self.config),
            "load": dict(self.load),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Subject:
        version = data.get("version")
        return cls(
            model=str(data.get("model", "")),
            version=None if version is None else str(version),
            files=ModelFiles.from_dict(data.get("files") or {}),
            config=dict(data.get("config") or {}),
            load=dict(data.get("load") or {}),
        )


def subject_changes(baseline: Subject, current: Subject) -> list[str]:
    """Everything that changed in what was measured, for the verdict message."""
    out: list[str] = []
    if baseline.model != current.model:
        out.append(f"model {baseline.model} → {current.model}")
    if baseline.version != current.version:
        out.append(f"model version {baseline.version or 'latest'} → {current.version or 'latest'}")
    out.extend(file_changes(baseline.files, current.files))
    if baseline.config and current.config:
        out.extend(config_changes(dict(baseline.config), dict(current.config)))
    old_load, new_load = load_with_defaults(baseline.load), load_with_defaults(current.load)
    out.extend(f"load {c}" for c in config_changes(old_load, new_load))
    return out
