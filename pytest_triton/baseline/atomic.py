"""Write a file so that readers see the old content or the new one, never half of either.

A Ctrl-C, a full disk or a CI runner killed mid-write must not leave a truncated baseline in the
user's repository: write a temp file in the same directory (same filesystem, so the rename is
atomic), fsync it, then `os.replace` it over the target.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from pytest_triton.errors import BaselineError


def atomic_write_text(path: Path, text: str, *, what: str = "file") -> None:
    """Replace `path` with `text` atomically; BaselineError (naming the path) on any OS error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise BaselineError(
            f"cannot write {what} {path}: the directory {path.parent} is not writable "
            f"({exc.strerror or exc}); check its permissions or choose another directory"
        ) from exc
    tmp = Path(tmp_name)
    try:
        # mkstemp creates 0600; a baseline is a normal repository file, so keep the old mode
        # or use the usual 0644.
        try:
            mode = path.stat().st_mode & 0o777
        except OSError:
            mode = 0o644
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            os.fchmod(f.fileno(), mode)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise BaselineError(f"cannot write {what} {path}: {exc.strerror or exc}") from exc
    except BaseException:
        # KeyboardInterrupt between write and rename: leave no temp file behind.
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable; not supported everywhere (Windows), so best effort."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
