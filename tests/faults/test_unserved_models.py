"""A model that stops answering, or whose stub dies, partway through a step fails its test."""

from __future__ import annotations

import re
import time
from pathlib import Path

from faults_support import processes_mentioning, run_session

SUITE = """
import pytest

LOAD = dict(concurrency={concurrency}, window_s=0.5, warmup_s=0.2, request_timeout_s=4)
FAULT = {{"parameters": {{"FAULT": {{"string_value": "{fault}"}}}}}}


@pytest.mark.triton_model("faulty", config=FAULT)
@pytest.mark.triton_load(**LOAD)
@pytest.mark.triton_slo(p99_ms=50)
def test_faulty(triton):
    triton.measure()
"""


def _run(tmp_path: Path, faulty_repo: Path, fault: str, concurrency: str = "[1, 2]") -> str:
    (tmp_path / "test_suite.py").write_text(SUITE.format(fault=fault, concurrency=concurrency))
    result = run_session(
        tmp_path,
        f"--triton-model-repository={faulty_repo}",
        # the hung instance would hold a stopping server for Triton's default 30 s
        "--triton-server-flags=exit-timeout-secs=2",
        f"--triton-report-json={tmp_path / 'report.json'}",
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "1 failed" in out, out
    deadline = time.monotonic() + 15
    while processes_mentioning(str(faulty_repo)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(str(faulty_repo)) == []
    return out


def test_a_model_that_stops_answering_partway_through_c2_fails(tmp_path: Path, faulty_repo: Path):
    out = _run(tmp_path, faulty_repo, "hang")
    # c1 was healthy and came first: the lost requests of c2 still fail the test
    assert "model 'faulty' did not serve its requests:" in out
    assert "c2: 1 of" in out and "got no answer within the request timeout" in out


def test_a_stub_that_dies_partway_through_c2_fails_quoting_triton(
    tmp_path: Path, faulty_repo: Path
):
    out = _run(tmp_path, faulty_repo, "exit")
    assert "model 'faulty' did not serve its requests:" in out
    assert re.search(r"c2: \d+ of \d+ request\(s\) failed", out), out
    # Triton's own words are in the failure message, not only in the JSON report
    failure = out.split("FAILURES", 1)[1].split("short test summary")[0]
    assert "Triton: " in failure and "is not healthy" in failure


def test_an_auto_ramp_whose_probe_stops_being_answered_fails(tmp_path: Path, faulty_repo: Path):
    """An auto ramp probes c1, then c2, where one instance hangs: the probe is where the ramp
    stops, and it is judged, though probes' figures never are."""
    out = _run(tmp_path, faulty_repo, "hang", concurrency="'auto'")
    assert "c2: 1 of" in out and "got no answer within the request timeout" in out, out
