"""The HTML report in a real browser (headless Chromium): it renders, its summary links each
failure, and its charts, axes, SLO bound, baseline band, probes and breakdown bars are there.
A screenshot is left in the test's temp dir for a person to look at."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_triton.judge.change import Change
from pytest_triton.judge.rows import Outcome, Row
from pytest_triton.record import MeasurementRecord
from pytest_triton.report.files import write_reports
from pytest_triton.report.outcome import TestEntry
from pytest_triton.result import Measurement, ServerSplit, StepResult, WindowSample
from pytest_triton.server.base import ServerIdentity
from pytest_triton.spec import SLO, LoadSpec, ModelSpec

pytestmark = pytest.mark.integration

SERVER = ServerIdentity("local", "2.51.0", "/somewhere/bin/tritonserver", "ab" * 32)


def _browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        import os

        if os.environ.get("CI"):
            pytest.fail("no chromium in CI: scripts/provision_chromium.sh", pytrace=False)
        pytest.skip("no chromium: run scripts/provision_chromium.sh")
    return found


def _step(c: int, thr: float, p50: float, probe: bool = False) -> StepResult:
    w = WindowSample(1.0, int(thr), 0, thr, p50, p50, p50 * 1.4, p50 * 1.6, p50 * 2)
    split = ServerSplit(queue_us=p50 * 200, compute_infer_us=p50 * 600, overhead_us=30,
                        requests=int(thr) * 3)  # fmt: skip
    return StepResult(
        c, None, (w, w, w), True, thr, p50, p50, p50 * 1.4, p50 * 1.6, p50 * 2,
        int(thr) * 3, 0, split, client_overhead_us=p50 * 150, probe=probe,
    )  # fmt: skip


def _report(tmp_path: Path) -> Path:
    steps = (_step(1, 400, 2.5), _step(2, 700, 2.9), _step(4, 900, 4.5))
    probes = tuple(_step(c, t * 1.05, p, probe=True) for c, t, p in ((1, 400, 2.4), (2, 700, 2.8),
                                                                      (4, 900, 4.4)))  # fmt: skip
    m = Measurement("tiny", None, steps, 9.0, extra={"probes": probes})
    rows = []
    for s in steps:
        for metric, base, change in (
            ("p50", s.p50_ms / 1.3, 1.3),
            ("throughput", s.throughput, 1.0),
        ):
            interval = Change(change, change * 0.9, change * 1.1, 8.0, 0.95)
            outcome = Outcome.REGRESSION if change > 1.05 else Outcome.OK
            rows.append(Row(s.load_point, metric, base, base * change, interval, 0.05, outcome))
    record = MeasurementRecord("t.py::test_tiny", "tiny", m, ModelSpec("tiny"), LoadSpec(),
                               SLO(p99_ms=8))  # fmt: skip
    record.baseline_rows = tuple(rows)
    ok = MeasurementRecord("t.py::test_ok", "tiny", Measurement("tiny", None, steps[:2], 4.0),
                           ModelSpec("tiny"), LoadSpec(), None)  # fmt: skip
    entries = [
        TestEntry("t.py::test_ok", "passed", "", [ok]),
        TestEntry("t.py::test_tiny", "failed", "baseline regression", [record]),
    ]
    path = tmp_path / "report.html"
    write_reports(entries, SERVER, {"html": path})
    return path


def test_the_report_renders_with_everything_a_reader_needs(tmp_path: Path) -> None:
    browser = _browser()
    page = _report(tmp_path)
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert dom.returncode == 0, dom.stderr
    html = dom.stdout
    assert "<title>pytest-triton report</title>" in html
    # the summary links the failure to its section
    assert re.search(r'<div id="summary">.*<a href="#test-1">t\.py::test_tiny</a>', html, re.S)
    assert '<h2 id="test-1">' in html
    assert "regressed c1 p50 +30.0%" in html
    # charts with ticked axes, the SLO bound, the baseline curve and its band, the probes
    assert html.count('class="chart"') >= 3 and html.count('class="tick"') > 10
    assert 'class="bound"' in html and "SLO p99 8 ms" in html
    assert 'class="band"' in html and "baseline p50" in html
    assert "probes (p50)" in html and 'fill="none"' in html
    # a bar of where the time went, per step, with its parts
    assert html.count('class="breakdown"') == 2 and html.count('class="part"') == 4 * 5
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1280,1800", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and shot.stat().st_size > 20_000, done.stderr
