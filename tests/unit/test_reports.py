import json
from pathlib import Path

from pytest_triton.outcome import JudgedResult, Recorded
from pytest_triton.report.files import write_reports
from pytest_triton.result import Measurement, ServerSplit, StepResult, WindowSample
from pytest_triton.server.base import ServerIdentity
from pytest_triton.slo import check_slo
from pytest_triton.spec import SLO, LoadSpec, ModelSpec

SERVER = ServerIdentity("local", "2.51.0", "/opt/tritonserver/bin/tritonserver", "ab" * 32)


def _step(c: int, thr: float, p99: float, stable: bool = True) -> StepResult:
    window = WindowSample(1.0, int(thr), 0, thr, p99 / 2, p99 / 2, p99 * 0.8, p99 * 0.9, p99)
    return StepResult(
        concurrency=c,
        request_rate=None,
        windows=(window, window, window),
        stable=stable,
        throughput=thr,
        avg_ms=p99 / 2,
        p50_ms=p99 / 2,
        p90_ms=p99 * 0.8,
        p95_ms=p99 * 0.9,
        p99_ms=p99,
        requests=int(thr) * 3,
        errors=0,
        server=ServerSplit(queue_us=120, compute_infer_us=800, requests=int(thr) * 3),
    )


def _judged() -> list[JudgedResult]:
    ok = Measurement("tiny", None, (_step(1, 900, 2.0), _step(4, 2400, 4.0)), 6.0)
    slow = Measurement("numpy_compute", "1", (_step(1, 300, 12.0, stable=False),), 3.0)
    slo = SLO(p99_ms=10)
    results = []
    for nodeid, m in (("t.py::test_ok", ok), ("t.py::test_slow", slow)):
        check = check_slo(m, slo)
        rec = Recorded(m, ModelSpec(m.model), LoadSpec(concurrency=(1, 4)), slo)
        results.append(
            JudgedResult(
                nodeid, rec, check, [] if check.passed else [check.render()], ["no baseline"]
            )
        )
    return results


def test_reports_are_written_in_every_format(tmp_path: Path):
    targets = {
        "json": tmp_path / "r.json",
        "md": tmp_path / "r.md",
        "html": tmp_path / "out" / "r.html",
    }
    written = write_reports(_judged(), SERVER, targets)
    assert sorted(written) == sorted(str(p) for p in targets.values())

    data = json.loads(targets["json"].read_text())
    assert data["schema"] == "pytest-triton-report/1"
    assert data["server"]["version"] == "2.51.0"
    ok, slow = data["results"]
    assert ok["passed"] and not slow["passed"]
    assert [s["load_point"] for s in ok["measurement"]["steps"]] == ["c1", "c4"]
    assert len(ok["measurement"]["steps"][0]["windows"]) == 3  # per-window samples kept
    assert slow["slo_check"][0]["passed"] is False

    md = targets["md"].read_text()
    assert (
        "| `t.py::test_slow` | numpy_compute | c1 (unstable) | 300.0 | 6.00 | 12.00 "
        "| 120 | 800 | ❌ FAIL |" in md
    )
    assert "SLO NOT met for model 'numpy_compute'" in md

    page = targets["html"].read_text()
    assert page.count("<svg") == 4 and "<polyline" in page
    assert "t.py::test_slow" in page and 'class="fail"' in page


def test_nothing_is_written_unless_asked(tmp_path: Path):
    assert write_reports(_judged(), SERVER, {"json": None, "md": None, "html": None}) == []
    assert list(tmp_path.iterdir()) == []


def test_markdown_appends_to_the_github_step_summary(tmp_path: Path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write_reports(_judged(), SERVER, {"md": summary})
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "## Triton performance gate" in text
