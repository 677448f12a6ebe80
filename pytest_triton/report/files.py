"""Write the report files a user asked for; one renderer per format."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pytest_triton.outcome import JudgedResult
from pytest_triton.server.base import ServerIdentity

Renderer = Callable[[Sequence[JudgedResult], ServerIdentity | None], str]


def _renderers() -> dict[str, Renderer]:
    from .html_report import render_html
    from .json_report import render_json
    from .markdown import render_markdown

    return {"json": render_json, "md": render_markdown, "html": render_html}


def write_reports(
    results: Sequence[JudgedResult],
    server: ServerIdentity | None,
    targets: Mapping[str, Path | None],
) -> list[str]:
    """Render each requested format to its path; returns the paths written."""
    wanted = {kind: path for kind, path in targets.items() if path is not None}
    if not wanted:
        return []
    renderers = _renderers()
    written: list[str] = []
    for kind, path in wanted.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        # $GITHUB_STEP_SUMMARY is shared by every step of a job: append, never clobber it.
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        mode = "a" if summary and path == Path(summary).resolve() else "w"
        with path.open(mode, encoding="utf-8") as f:
            f.write(renderers[kind](results, server))
        written.append(str(path))
    return written
