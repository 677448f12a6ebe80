"""What every file of ours starts with: JSON, a schema name, and a version this code can read.

Baselines and calibrations are checked the same way; a file that fails is left as it is, and
the error names it and what to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_triton.errors import BaselineError, BaselineNewerSchemaError


@dataclass(frozen=True)
class FileKind:
    what: str  # "baseline", "calibration": how messages name the file
    schema: str
    version: int  # the newest schema version this code reads
    restore: str  # how to get a good file back
    directory_option: str  # where a user points us elsewhere
    newer_note: str = ""  # said after a newer file was left untouched


def read_file(path: Path, kind: FileKind) -> str | None:
    """The file's text; None when there is no such file, BaselineError when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise BaselineError(f"cannot read {kind.what} {path}: {exc.strerror or exc}") from exc


def read_envelope(text: str, path: Path, kind: FileKind) -> dict[str, Any]:
    """The file's JSON object, once its schema and version are ours; BaselineError (or
    BaselineNewerSchemaError) otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = " (it looks truncated)" if exc.pos >= len(text.rstrip()) else ""
        raise BaselineError(
            f"{kind.what} {path} is corrupt{hint}: {exc.msg} at line {exc.lineno} column "
            f"{exc.colno}. It was left untouched: {kind.restore}"
        ) from exc
    if not isinstance(data, dict) or data.get("schema") != kind.schema:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise BaselineError(
            f"{kind.what} {path} is not a pytest-triton {kind.what} (schema {found!r}, "
            f"expected {kind.schema!r}). It was left untouched: move it out of the {kind.what} "
            f"directory or choose another one with {kind.directory_option}"
        )
    version = data.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise BaselineError(f"{kind.what} {path} has an invalid schema_version {version!r}")
    if version > kind.version:
        raise BaselineNewerSchemaError(
            f"{kind.what} {path} was written by a newer pytest-triton (schema version "
            f"{version}, this one reads up to {kind.version}): upgrade pytest-triton. The file "
            f"was left untouched{kind.newer_note}"
        )
    return data
