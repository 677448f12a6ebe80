"""The example suite's SLO failure demo, end to end against the real bundled server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_triton.server.bundled import bundled_server_root

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bundled_server_root() is None, reason="no bundled tritonserver"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_breached_slo_fails_that_test_with_a_table_and_reports(tmp_path: Path):
    report = tmp_path / "report.json"
    html = tmp_path / "report.html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "example_suite",
            "-p",
            "no:cacheprovider",
            "-m",
            "slo_failure_demo",
            f"--basetemp={tmp_path / 'run'}",
            f"--triton-report-json={report}",
            f"--triton-report-html={html}",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "1 failed" in out
    assert "SLO NOT met for model 'numpy_compute':" in out
    assert "p99 latency" in out and "min throughput" in out and "FAIL" in out
    # The SLO failure is a message, not a traceback into pytest-triton's internals.
    assert "pytest_triton/" not in out.split("FAILURES", 1)[1].split("short test summary")[0]
    data = json.loads(report.read_text())
    (only,) = data["results"]
    assert only["passed"] is False and only["model"]["name"] == "numpy_compute"
    assert only["measurement"]["steps"][0]["p99_ms"] > 0.05
    assert "<svg" in html.read_text()
    # The terminal summary lists the measurement and where the reports went.
    assert "triton performance" in out and f"report written: {report}" in out


def test_under_xdist_the_example_suite_passes_as_without_it_with_full_reports(tmp_path: Path):
    """-n 2: a server per worker, steps taken in turn, every worker's measurements in the
    controller's reports (the suite passes on its own, so it must here too)."""
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "example_suite", "-p", "no:cacheprovider",
            "-n", "2", "--triton-baseline=off", f"--basetemp={tmp_path / 'run'}",
            f"--triton-report-json={report}",
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "4 passed" in out
    data = json.loads(report.read_text())
    assert {t["outcome"] for t in data["tests"]} == {"passed"} and len(data["tests"]) == 4
    measured = {r["test"].split("::")[-1] for r in data["results"]}
    assert len(measured) == 4, measured
    assert data["server"]["kind"] == "local"
