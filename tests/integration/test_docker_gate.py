"""Without an engine, docker tests skip with a visible reason, except in CI where they fail.

Runs this repository's own docker tests in a subprocess pointed at an engine that is not there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGET = (
    "tests/integration/test_docker_server.py"
    "::test_reaper_removes_only_containers_of_dead_owners_here"
)


def _run(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["DOCKER_HOST"] = f"unix://{tmp_path / 'no-engine.sock'}"
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", TARGET],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_no_engine_is_a_visible_skip(tmp_path: Path) -> None:
    result = _run(tmp_path, ci=False)
    assert result.returncode == pytest.ExitCode.OK, result.stdout
    assert "1 skipped" in result.stdout
    assert "SKIPPED" in result.stdout
    assert "no Docker engine reachable" in result.stdout
    assert "scripts/provision_docker.sh" in result.stdout


def test_no_engine_in_ci_is_a_failure(tmp_path: Path) -> None:
    result = _run(tmp_path, ci=True)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout
    assert "1 error" in result.stdout
    assert "docker integration tests cannot run in CI: no Docker engine reachable" in result.stdout
