"""Under pytest-xdist (-n 2) the reports state each test's outcome as pytest decided it (they
were empty yet said '0 measurement(s), all passed'), with every worker's measurements."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from faults_support import run_session

REPO_ROOT = Path(__file__).resolve().parents[2]

SUITE = """
import pytest

pytestmark = [
    pytest.mark.triton_model("tiny"),
    pytest.mark.triton_load(concurrency=[1], window_s=0.3, warmup_s=0.1),
]


@pytest.mark.triton_slo(p99_ms=1000)
def test_pass(triton):
    triton.measure()


@pytest.mark.triton_slo(p99_ms=0.001)
def test_breach(triton):
    triton.measure()
"""


def test_reports_under_xdist_never_claim_an_empty_success(tmp_path: Path):
    shutil.copytree(REPO_ROOT / "example_suite/model_repository/tiny", tmp_path / "repo/tiny")
    (tmp_path / "test_suite.py").write_text(SUITE)
    md, js = tmp_path / "report.md", tmp_path / "report.json"
    result = run_session(
        tmp_path,
        "-n",
        "2",
        f"--triton-model-repository={tmp_path / 'repo'}",
        f"--triton-report-md={md}",
        f"--triton-report-json={js}",
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1 and "1 failed, 1 passed" in out, out
    text = md.read_text()
    assert "2 Triton test(s): 1 failed, 1 passed." in text, text
    assert "all passed" not in text and "0 measurement" not in text
    data = json.loads(js.read_text())
    outcomes = {t["test"].split("::")[-1]: t["outcome"] for t in data["tests"]}
    assert outcomes == {"test_pass": "passed", "test_breach": "failed"}
    # each worker's measurement, sent to the controller that wrote the report
    measured = sorted(r["test"].split("::")[-1] for r in data["results"])
    assert measured == ["test_breach", "test_pass"] and data["server"]["kind"] == "local"
    assert "SLO NOT met for model 'tiny'" in text  # pytest's own failure text, from the worker
