"""The example suite gives the same results in docker mode as with the local binary."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_triton.server.reaper import LABEL_SESSION

pytestmark = pytest.mark.docker

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run_example_suite(tmp_path: Path, name: str, *args: str) -> dict[str, str]:
    """Outcome ('passed', 'failed', 'error', 'skipped') of every example test, by node id."""
    junit = tmp_path / f"{name}.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "example_suite", "-p", "no:cacheprovider", "-q"]
        + [f"--junitxml={junit}", f"--basetemp={tmp_path / name}", "--triton-checkpoint-dir=off"]
        + list(args),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert junit.exists(), result.stdout + result.stderr
    outcomes: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = {child.tag for child in case} & {"failure", "error", "skipped"}
        outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}
        outcomes[f"{case.get('classname')}::{case.get('name')}"] = (
            outcome[kinds.pop()] if kinds else "passed"
        )
    print(f"{name}: {outcomes}\n{result.stdout[-3000:]}")
    return outcomes


def test_example_suite_passes_in_docker_mode_as_in_local_mode(
    tmp_path: Path, docker_client: Any, docker_image: str
) -> None:
    def session_containers() -> set[str]:
        filters = {"label": LABEL_SESSION}
        return {c.name for c in docker_client.containers.list(all=True, filters=filters)}

    # The SLO failure demo too: a breach must fail the same way in both modes.
    everything = "-m=slo_failure_demo or not slo_failure_demo"
    before = session_containers()
    local = _run_example_suite(tmp_path, "local", everything)
    docker = _run_example_suite(tmp_path, "docker", everything, f"--triton-image={docker_image}")

    assert docker == local
    demo = "test_slo_failure_demo::test_an_slo_nobody_can_meet"
    assert docker.pop(demo) == "failed"
    assert len(docker) >= 4
    assert set(docker.values()) == {"passed"}, docker
    assert session_containers() <= before, "the docker-mode run left a container behind"
