"""Every output states each test's outcome as pytest decided it, with counts matching its
summary: a session with a pass, an SLO breach, a baseline regression, an error and a skip."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from faults_support import run_session

REPO_ROOT = Path(__file__).resolve().parents[2]

SUITE = """
import pytest

pytestmark = pytest.mark.triton_load(concurrency=[1], window_s=0.3, warmup_s=0.1)


@pytest.mark.triton_model("tiny")
@pytest.mark.triton_slo(p99_ms=1000)
def test_pass(triton):
    triton.measure()


@pytest.mark.triton_model("tiny")
@pytest.mark.triton_slo(p99_ms=0.001)
def test_slo_breach(triton):
    triton.measure()


@pytest.mark.triton_model("tiny")
def test_regression(triton):
    triton.measure()


@pytest.mark.triton_model("absent")
def test_error(triton):
    triton.measure()


@pytest.mark.triton_model("tiny")
def test_skip(triton):
    pytest.skip("not on this runner")
"""

EXPECTED = {
    "test_pass": "passed",
    "test_slo_breach": "failed",
    "test_regression": "failed",
    "test_error": "error",
    "test_skip": "skipped",
}


def _session(tmp_path: Path, extra_ms: str, *args: str) -> str:
    result = run_session(
        tmp_path,
        f"--triton-model-repository={tmp_path / 'repo'}",
        f"--triton-baseline-dir={tmp_path / 'baselines'}",
        "--triton-env",
        f"EXAMPLE_EXTRA_MS_TINY={extra_ms}",
        *args,
    )
    return result.stdout + result.stderr


def test_every_output_agrees_with_pytest(tmp_path: Path):
    shutil.copytree(REPO_ROOT / "example_suite/model_repository/tiny", tmp_path / "repo/tiny")
    (tmp_path / "test_outcomes.py").write_text(SUITE)
    out = _session(tmp_path, "2", "-k", "test_regression", "--triton-baseline=update")
    assert "1 passed" in out, out
    reports = {k: tmp_path / f"report.{k}" for k in ("json", "md", "html", "xml")}
    out = _session(
        tmp_path,
        "8",
        f"--triton-report-json={reports['json']}",
        f"--triton-report-md={reports['md']}",
        f"--triton-report-html={reports['html']}",
        f"--junitxml={reports['xml']}",
    )
    # pytest's own verdict
    summary = out.strip().splitlines()[-1]
    assert "2 failed, 1 passed, 1 skipped, 1 error" in summary, out
    assert "performance regression against the baseline of 'tiny'" in out

    data = json.loads(reports["json"].read_text())
    outcomes = {t["test"].split("::")[-1]: t["outcome"] for t in data["tests"]}
    assert outcomes == EXPECTED
    assert {k: v for k, v in data["summary"].items() if v} == {
        "passed": 1,
        "failed": 2,
        "skipped": 1,
        "error": 1,
    }
    why = {t["test"].split("::")[-1]: t["why"] for t in data["tests"]}
    assert why["test_slo_breach"] == "SLO not met"
    assert why["test_regression"] == "baseline regression"
    for result in data["results"]:
        assert result["passed"] == (result["outcome"] == "passed")

    md = reports["md"].read_text()
    assert "5 Triton test(s): 2 failed, 1 passed, 1 skipped, 1 error." in md
    assert "all passed" not in md and "✅" in md  # the one pass, not the whole session
    assert "❌ failed (baseline regression)" in md and "❌ failed (SLO not met)" in md
    regression = md.split("### `test_outcomes.py::test_regression`", 1)[1]
    assert "performance regression against the baseline of 'tiny'" in regression
    assert "REGRESSION" in regression  # its table, not only a word

    page = reports["html"].read_text()
    assert "5 Triton test(s): 2 failed, 1 passed, 1 skipped, 1 error" in page
    assert "failed (baseline regression)" in page and "REGRESSION" in page

    junit = {case.get("name"): case for case in ET.parse(reports["xml"]).getroot().iter("testcase")}
    assert junit["test_regression"].find("failure") is not None
    assert junit["test_error"].find("error") is not None
    assert junit["test_skip"].find("skipped") is not None
    assert len(list(junit["test_pass"])) == 0 or junit["test_pass"].find("failure") is None

    terminal = out.split("triton performance", 1)[1]
    assert "5 Triton test(s): 2 failed, 1 passed, 1 skipped, 1 error" in terminal
    assert re.search(r"test_regression  \[tiny\]  FAILED: baseline regression", terminal)
    assert re.search(r"test_slo_breach  \[tiny\]  FAILED: SLO not met", terminal)
    assert re.search(r"test_error  ERROR", terminal)
