"""Write the report files a user asked for; one renderer per format."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pytest_triton.report.outcome import TestEntry
from pytest_triton.server.base import ServerIdentity

Renderer = Callable[[Sequence[TestEntry], ServerIdentity | None], str]


# Report kind -> the option that asks for it.
OPTIONS = {
    "json": "--triton-report-json",
    "md": "--triton-report-md",
    "html": "--triton-report-html",
    "benchmark_json": "--triton-benchmark-json",
    "github_smaller": "--triton-github-benchmark",
    "github_bigger": "--triton-github-benchmark",
}
# --triton-github-benchmark DIR: one file per github-action-benchmark tool.
GITHUB_FILES = {
    "github_smaller": "smaller_is_better.json",
    "github_bigger": "bigger_is_better.json",
}


def report_targets(option: Callable[[str], Path | None]) -> dict[str, Path | None]:
    """Each report kind's path, from the options (`option` reads one by its ini name)."""
    targets = {
        kind: option(flag.lstrip("-").replace("-", "_"))
        for kind, flag in OPTIONS.items()
        if kind not in GITHUB_FILES
    }
    directory = option("triton_github_benchmark")
    for kind, name in GITHUB_FILES.items():
        targets[kind] = directory / name if directory is not None else None
    return targets


def _renderers() -> dict[str, Renderer]:
    from .benchmark_json import render_benchmark_json
    from .github_benchmark import render_bigger, render_smaller
    from .html_report import render_html
    from .json_report import render_json
    from .markdown import render_markdown

    return {
        "json": render_json,
        "md": render_markdown,
        "html": render_html,
        "benchmark_json": render_benchmark_json,
        "github_smaller": render_smaller,
        "github_bigger": render_bigger,
    }


def write_reports(
    entries: Sequence[TestEntry],
    server: ServerIdentity | None,
    targets: Mapping[str, Path | None],
) -> tuple[list[str], list[str]]:
    """Render each requested format to its path: the paths written, and a line for each that
    could not be (the others are still written)."""
    wanted = {kind: path for kind, path in targets.items() if path is not None}
    renderers = _renderers()
    written: list[str] = []
    errors: list[str] = []
    for kind, path in wanted.items():
        text = renderers[kind](entries, server)
        # $GITHUB_STEP_SUMMARY is shared by every step of a job: append, never clobber it.
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        appending = summary is not None and path == Path(summary).resolve()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if appending:
                with path.open("a", encoding="utf-8") as f:
                    f.write(text)
            else:
                _replace(path, text)
        except OSError as exc:
            errors.append(f"{OPTIONS[kind]} {path}: {exc.strerror or exc}")
            continue
        written.append(str(path))
    return written, errors


def _replace(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all: a reader never sees half a report."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory; give a file path")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
