import json
from pathlib import Path

from pytest_triton.judge.slo import check_slo
from pytest_triton.record import MeasurementRecord
from pytest_triton.report.files import write_reports
from pytest_triton.report.outcome import TestEntry
from pytest_triton.result import Measurement, ServerSplit, StepResult, WindowSample
from pytest_triton.server.base import ServerIdentity
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


def _entries() -> list[TestEntry]:
    ok = Measurement("tiny", None, (_step(1, 900, 2.0), _step(4, 2400, 4.0)), 6.0)
    slow = Measurement("numpy_compute", "1", (_step(1, 300, 12.0, stable=False),), 3.0)
    slo = SLO(p99_ms=10)
    entries = []
    for nodeid, m in (("t.py::test_ok", ok), ("t.py::test_slow", slow)):
        check = check_slo(m, slo)
        record = MeasurementRecord(
            nodeid, m.model, m, ModelSpec(m.model), LoadSpec(concurrency=(1, 4)), slo
        )
        record.slo_check, record.notes = check, ["no baseline"]
        if not check.passed:
            record.fail("SLO not met", check.render())
        outcome = "passed" if check.passed else "failed"
        entries.append(TestEntry(nodeid, outcome, "\n".join(record.failures), [record]))
    # a test that errored before it measured anything
    entries.append(TestEntry("t.py::test_broken", "error", "ModelLoadError: no such model"))
    return entries


def test_reports_are_written_in_every_format(tmp_path: Path):
    targets = {
        "json": tmp_path / "r.json",
        "md": tmp_path / "r.md",
        "html": tmp_path / "out" / "r.html",
    }
    written, errors = write_reports(_entries(), SERVER, targets)
    assert sorted(written) == sorted(str(p) for p in targets.values()) and errors == []

    data = json.loads(targets["json"].read_text())
    assert data["schema"] == "pytest-triton-report/2"
    assert data["summary"]["passed"] == 1 and data["summary"]["failed"] == 1
    assert data["summary"]["error"] == 1
    assert [t["outcome"] for t in data["tests"]] == ["passed", "failed", "error"]
    assert data["server"]["version"] == "2.51.0"
    # when, from which commit, on which machine (the fingerprint baselines are keyed by)
    assert data["time"].endswith("+00:00") and data["machine"]["cpu_count"] > 0
    assert data["machine"]["server_version"] == "2.51.0"
    assert data["commit"] is None or len(data["commit"]["id"]) == 40
    ok, slow = data["results"]
    assert ok["passed"] and not slow["passed"]
    assert [s["load_point"] for s in ok["measurement"]["steps"]] == ["c1", "c4"]
    assert len(ok["measurement"]["steps"][0]["windows"]) == 3  # per-window samples kept
    assert slow["slo_check"][0]["passed"] is False

    md = targets["md"].read_text()
    assert (
        "| `t.py::test_slow` | numpy_compute | c1 (unstable) | 300.0 | 6.00 | 12.00 "
        "| 120 | 800 |  | ❌ failed (SLO not met) |" in md
    )
    assert "3 Triton test(s): 1 failed, 1 passed, 1 error." in md
    assert "| `t.py::test_broken` | | | | | | | | | ❌ error |" in md
    # failures first; the server's binary by name, not by its path on this machine
    assert md.index("test_slow") < md.index("test_broken") < md.index("test_ok")
    assert "(local: `tritonserver`)" in md and "/opt/" not in md
    assert "SLO NOT met for model 'numpy_compute'" in md

    page = targets["html"].read_text()
    assert page.count('class="chart"') == 4 and "<polyline" in page
    assert page.count('class="breakdown"') == 2  # a bar per step of where the time went
    assert page.count('class="tick"') > 8  # axes with ticks
    # the summary links what did not pass to its section
    summary = page.split('<div id="summary">', 1)[1].split("</div>", 1)[0]
    assert '<a href="#test-1">t.py::test_slow</a>' in summary, summary
    assert '<a href="#test-2">t.py::test_broken</a>' in summary and "test_ok" not in summary
    assert '<h2 id="test-1">t.py::test_slow' in page
    assert 'class="bound"' in page and "SLO p99 10 ms" in page  # the SLO bound drawn


def test_nothing_is_written_unless_asked(tmp_path: Path):
    nothing = write_reports(_entries(), SERVER, {"json": None, "md": None, "html": None})
    assert nothing == ([], [])
    assert list(tmp_path.iterdir()) == []


def test_markdown_appends_to_the_github_step_summary(tmp_path: Path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write_reports(_entries(), SERVER, {"md": summary})
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "## Triton performance gate" in text


def test_a_report_that_cannot_be_written_is_one_error_and_the_others_are_written(tmp_path: Path):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    targets = {"json": folder, "md": tmp_path / "r.md", "html": None}
    written, errors = write_reports(_entries(), SERVER, targets)
    assert written == [str(tmp_path / "r.md")]
    assert errors == [f"--triton-report-json {folder}: is a directory; give a file path"]
    assert list(folder.iterdir()) == []  # no half-written temporary left behind


def test_an_empty_session_never_claims_success(tmp_path: Path):
    write_reports([], SERVER, {"md": tmp_path / "r.md"})
    md = (tmp_path / "r.md").read_text()
    assert "0 Triton test(s): no Triton test ran" in md and "passed" not in md


def test_a_token_stream_and_an_ensembles_steps_are_in_the_reports(tmp_path: Path):
    from dataclasses import replace

    from pytest_triton.result import StreamStats

    stream = StreamStats(60, 31.0, 31.1, 32.0, 32.5, 33.5, 10.7, 10.6, 10.9, 11.0, 11.1, 70.0, 6.0)
    llm = Measurement("llm", None, (replace(_step(1, 11.7, 90.0), stream=stream),), 3.0)
    split = ServerSplit(queue_us=27, compute_infer_us=10575, requests=220)
    pipe = Measurement(
        "pipeline", None, (replace(_step(1, 73.6, 15.9), composing={"preprocess": split}),), 3.0
    )
    entries = []
    for nodeid, m in (("t.py::test_llm", llm), ("t.py::test_pipe", pipe)):
        record = MeasurementRecord(nodeid, m.model, m, ModelSpec(m.model), LoadSpec(), None)
        entries.append(TestEntry(nodeid, "passed", "", [record]))
    targets = {"json": tmp_path / "r.json", "md": tmp_path / "r.md", "html": tmp_path / "r.html"}
    write_reports(entries, SERVER, targets)
    md = targets["md"].read_text()
    assert "### Token stream: `llm` in `t.py::test_llm`" in md
    assert "| c1 | 31.10 | 33.50 | 10.60 | 11.10 | 70.0 | 6.0 |" in md
    assert "### Models it ran: `pipeline` in `t.py::test_pipe`" in md
    assert "| c1 | preprocess | 27 | 10575 | 220 |" in md
    page = targets["html"].read_text()
    assert "<h4>Token stream</h4>" in page and "<td>preprocess</td>" in page
    llm_result, pipe_result = json.loads(targets["json"].read_text())["results"]
    assert llm_result["measurement"]["steps"][0]["stream"]["ttft_p50_ms"] == 31.1
    assert pipe_result["measurement"]["steps"][0]["composing"]["preprocess"]["queue_us"] == 27


def test_steps_are_pytest_benchmark_benchmarks_that_its_compare_reads(tmp_path: Path):
    import shutil
    import subprocess
    import sys

    target = tmp_path / "0001_triton.json"
    written, errors = write_reports(_entries(), SERVER, {"benchmark_json": target})
    assert written == [str(target)] and errors == []
    data = json.loads(target.read_text())
    names = [b["name"] for b in data["benchmarks"]]
    assert names == ["test_ok[tiny c1]", "test_ok[tiny c4]", "test_slow[numpy_compute c1]"]
    first = data["benchmarks"][0]
    # rounds are the step's measured windows: their mean latency, in seconds
    assert first["stats"]["rounds"] == 3 and first["stats"]["mean"] == 0.001
    assert first["extra_info"]["throughput_infer_per_s"] == 900
    assert first["extra_info"]["p99_ms"] == 2.0
    assert data["machine_info"]["python_version"] and "commit_info" in data

    cli = shutil.which("pytest-benchmark", path=str(Path(sys.executable).parent))
    if cli is None:
        import pytest

        pytest.skip("pytest-benchmark is not installed (the test extra has it)")
    shown = subprocess.run(
        [cli, "compare", str(target), "--columns=min,mean,max,rounds"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "Failed to load" not in shown.stdout + shown.stderr
    for name in names:
        assert name in shown.stdout, shown.stdout


def test_github_action_benchmark_gets_latencies_and_throughputs_in_its_custom_formats(
    tmp_path: Path,
):
    targets = {
        "github_smaller": tmp_path / "gh" / "smaller_is_better.json",
        "github_bigger": tmp_path / "gh" / "bigger_is_better.json",
    }
    written, errors = write_reports(_entries(), SERVER, targets)
    assert len(written) == 2 and errors == []
    smaller = json.loads(targets["github_smaller"].read_text())
    bigger = json.loads(targets["github_bigger"].read_text())
    # the action's schema: name, unit, value (and optional range, extra)
    assert all(set(e) == {"name", "unit", "value", "range", "extra"} for e in smaller + bigger)
    assert {"name": "test_ok[tiny c4] p99", "unit": "ms", "value": 4.0}.items() <= smaller[
        3
    ].items()
    assert [e["name"] for e in bigger] == [
        "test_ok[tiny c1] throughput", "test_ok[tiny c4] throughput",
        "test_slow[numpy_compute c1] throughput",
    ]  # fmt: skip
    # no token stream, so no TTFT or tokens/s entries
    assert not [e for e in smaller + bigger if "TTFT" in e["name"] or "tokens" in e["name"]]
    assert bigger[0]["range"] == "± 0" and "passed" in bigger[0]["extra"]


def test_a_long_markdown_table_is_folded(tmp_path: Path):
    steps = tuple(_step(c, 100.0 * c, 1.0 + c) for c in range(1, 26))
    m = Measurement("tiny", None, steps, 60.0)
    record = MeasurementRecord("t.py::test_many", "tiny", m, ModelSpec("tiny"), LoadSpec(), None)
    entries = [TestEntry("t.py::test_many", "passed", "", [record])]
    write_reports(entries, SERVER, {"md": tmp_path / "r.md"})
    md = (tmp_path / "r.md").read_text()
    assert "<details><summary>25 rows of measurements</summary>" in md
    assert md.index("<details>") < md.index("| c25 |") < md.index("</details>")
