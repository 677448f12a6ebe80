"""The GitHub workflow users copy: every pytest-triton option it passes exists, it installs the
way that works while the package is not on an index, and the GPU job pulls its image first."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from pytest_triton.plugin.baseline_settings import BASELINE_OPTIONS
from pytest_triton.plugin.options import OPTIONS

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "triton-perf-gate.yml"


def test_every_option_the_workflow_passes_exists() -> None:
    text = WORKFLOW.read_text()
    used = set(re.findall(r"--(triton-[a-z-]+)", text))
    known = {o.name.replace("_", "-") for o in (*OPTIONS, *BASELINE_OPTIONS)}
    assert used and used <= known, sorted(used - known)


def test_it_installs_from_the_configured_source_and_pulls_the_image_before_testing() -> None:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    for job in jobs.values():
        runs = [step.get("run", "") for step in job["steps"]]
        installs = [r for r in runs if "pip install" in r]
        assert installs and all("@ ${PYTEST_TRITON_SOURCE}" in r for r in installs), installs
    gpu = [step.get("run", "") for step in jobs["gpu"]["steps"]]
    pull = next(i for i, r in enumerate(gpu) if r.startswith("docker pull"))
    test = next(i for i, r in enumerate(gpu) if r.startswith("pytest"))
    assert pull < test
