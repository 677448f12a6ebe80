"""The baseline gate in real pytest sessions: modes, options with ini twins, marker, summary."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

FAKE_CONFTEST = (Path(__file__).parent / "fake_triton_conftest.py").read_text()

TEST_TINY = """
import pytest

@pytest.mark.triton_model("tiny")
@pytest.mark.triton_load(concurrency=[1, 4])
def test_tiny(triton):
    triton.measure()
"""

BASELINE = Path("triton-baselines/test_perf/test_tiny.json")


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.Pytester]:
    for name in ("FAKE_LATENCY_FACTOR", "FAKE_IDENTITY", "FAKE_STEP_SLEEP", "FAKE_STARTED_FILE"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(FAKE_CONFTEST)
    pytester.makeini("[pytest]\ntriton_model_repository = models\n")
    model = pytester.path / "models" / "tiny" / "1"
    model.mkdir(parents=True)
    (model / "model.py").write_text("# tiny\n")
    (model.parent / "config.pbtxt").write_text('backend: "python"\n')
    pytester.makepyfile(test_perf=TEST_TINY)
    yield pytester


def _record(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--triton-baseline=update")
    result.assert_outcomes(passed=1)
    assert (suite.path / BASELINE).exists()


def test_no_baseline_passes_with_a_visible_note_and_writes_nothing(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-rP")  # -rP: the test's own report sections too
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= triton baselines (compare, *triton-baselines) =*",
            "ok   test_perf.py::test_tiny [[]tiny] no baseline: no baseline for 'tiny'*",
        ]
    )
    # said once, not again in the test's section and the performance summary
    assert result.stdout.str().count("no baseline for 'tiny'") == 1
    assert not (suite.path / "triton-baselines").exists()


def test_a_session_without_triton_tests_prints_no_triton_sections(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = suite.runpytest("test_plain.py")
    result.assert_outcomes(passed=1)
    assert "triton baselines" not in result.stdout.str()
    assert "triton performance" not in result.stdout.str()


def test_required_fails_a_test_without_baseline(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--triton-baseline-required")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*--triton-baseline-required is set*"])


def test_update_then_compare_unchanged_then_catch_a_slowdown(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record(suite)
    data = json.loads((suite.path / BASELINE).read_text())
    assert data["test"] == "test_perf.py::test_tiny"
    assert suite.runpytest().ret == 0
    monkeypatch.setenv("FAKE_LATENCY_FACTOR", "1.3")
    before = (suite.path / BASELINE).read_bytes()
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*performance regression against the baseline of 'tiny' recorded *",
            "*metric*baseline*current*change [[]95% CI]*tolerance*verdict*",
            "*c1 p50*+30.0%*REGRESSION*",
            "*where: c1 latency*mostly compute*",
            "FAIL test_perf.py::test_tiny [[]tiny] REGRESSED: *regression(s)*",
        ]
    )
    assert (suite.path / BASELINE).read_bytes() == before  # compare never writes


def test_run_noise_decides_whether_a_session_offset_fails(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """+9% with tight windows: within what sessions of an unchanged build differ by (2% each
    by default), so not a regression; a user who trusts the windows alone gets the failure."""
    _record(suite)
    monkeypatch.setenv("FAKE_LATENCY_FACTOR", "1.09")
    result = suite.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["ok   test_perf.py::test_tiny [[]tiny] compared: *inconclusive*"])
    result = suite.runpytest("--triton-run-noise=0")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*c1 p50*+9.0%*REGRESSION*"])


def test_repeated_updates_make_a_baseline_of_several_sessions(suite: pytest.Pytester) -> None:
    _record(suite)
    result = suite.runpytest("--triton-baseline=update")
    result.stdout.fnmatch_lines(["*updated*the baseline is now the mean of 2 sessions*"])
    data = json.loads((suite.path / BASELINE).read_text())
    (env,) = data["environments"].values()
    assert len(env["measurements"]["tiny"]["sessions"]) == 1
    result = suite.runpytest("-rP")  # -rP: the passing test's baseline section
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*compared with the baseline of 'tiny'*(mean of 2 sessions)*"])


def test_improvement_is_reported_not_failed(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record(suite)
    monkeypatch.setenv("FAKE_LATENCY_FACTOR", "0.7")
    result = suite.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["ok   test_perf.py::test_tiny [[]tiny] compared: *improvement(s)*"]
    )


def test_environment_mismatch_is_not_compared_and_says_why(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record(suite)
    monkeypatch.setenv("FAKE_IDENTITY", "2.52.0")
    monkeypatch.setenv("FAKE_LATENCY_FACTOR", "3")
    result = suite.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*environment mismatch: environment mismatch, not compared*"
            "Triton version: 2.51.0 → 2.52.0*"
        ]
    )
    # environments live side by side: recording this one keeps the other
    suite.runpytest("--triton-baseline=update").assert_outcomes(passed=1)
    assert len(json.loads((suite.path / BASELINE).read_text())["environments"]) == 2


def test_update_does_not_store_a_measurement_that_failed_its_slo(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_perf="""
        import pytest

        @pytest.mark.triton_slo(p99_ms=1.0)
        @pytest.mark.triton_model("tiny")
        def test_tiny(triton):
            triton.measure()
        """
    )
    result = suite.runpytest("--triton-baseline=update")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*[[]tiny] not updated: *did not meet its SLO*"])
    assert not (suite.path / BASELINE).exists()


def test_marker_and_ini_tolerances_loosen_the_gate(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record(suite)
    monkeypatch.setenv("FAKE_LATENCY_FACTOR", "1.3")
    suite.makepyfile(
        test_perf=TEST_TINY.replace(
            "def test_tiny",
            "@pytest.mark.triton_baseline(tolerance={'p50': '50%', 'throughput': 0.5, "
            "'p99': 'off'})\ndef test_tiny",
        )
    )
    suite.runpytest().assert_outcomes(passed=1)
    suite.makepyfile(test_perf=TEST_TINY)
    suite.makeini(
        "[pytest]\ntriton_model_repository = models\n"
        "triton_tolerance = p50=50% throughput=50%\n    p99=off\n"
    )
    suite.runpytest().assert_outcomes(passed=1)
    # and the command line beats the ini
    suite.runpytest("--triton-tolerance", "p50=5%").assert_outcomes(failed=1)


def test_model_change_is_compared_and_named(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record(suite)
    (suite.path / "models/tiny/1/model.py").write_text("# tiny, now slower\n")
    monkeypatch.setenv("FAKE_LATENCY_FACTOR", "1.3")
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*changed: 1/model.py changed*"])


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("triton_baseline(tolerance={'p42': '10%'})", "*unknown tolerance metric 'p42'*"),
        ("triton_baseline(tolerance='p50=10')", "*'10' is ambiguous; write '10%'*"),
        ("triton_baseline(colour=1)", "*@triton_baseline got unknown argument(s) colour*"),
        ("triton_baseline(required='yes')", "*required must be True or False*"),
    ],
)
def test_bad_marker_arguments_stop_the_run_at_collection(
    suite: pytest.Pytester, marker: str, expected: str
) -> None:
    suite.makepyfile(
        test_perf=TEST_TINY.replace("def test_tiny", f"@pytest.mark.{marker}\ndef test_tiny")
    )
    result = suite.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])


def test_bad_options_are_usage_errors(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--triton-tolerance", "p50=ten")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*not a percentage like '10%'*"])
    result = suite.runpytest("--triton-baseline-match", "gpu_colour")
    result.stderr.fnmatch_lines(["*unknown fingerprint field(s) gpu_colour*"])
    result = suite.runpytest("--triton-baseline-sessions", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*triton_baseline_sessions must be >= 1, got 0*"])
    result = suite.runpytest("--triton-run-noise", "lots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*run noise*'lots' is not a percentage*"])
    result = suite.runpytest("--triton-baseline-build", "no/such/dir")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--triton-baseline-build *no/such/dir is not a directory*"])
    result = suite.runpytest("--triton-baseline-build", "models", "--triton-baseline=update")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no use with --triton-baseline=update (drop one of them)*"])


def test_two_tests_on_one_file_stop_the_run(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_perf="""
        import pytest

        @pytest.mark.triton_model("tiny")
        @pytest.mark.parametrize("x", ["a/b", "a_b"])
        def test_tiny(triton, x):
            triton.measure()
        """
    )
    result = suite.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*tests 'test_perf.py::test_tiny[[]a/b]' and 'test_perf.py::test_tiny[[]a_b]' map to "
            "the same baseline file*@pytest.mark.triton_baseline(name=*"
        ]
    )


def test_renamed_test_leaves_an_orphan_that_is_listed_not_deleted(
    suite: pytest.Pytester,
) -> None:
    _record(suite)
    suite.makepyfile(test_perf=TEST_TINY.replace("test_tiny", "test_tiny_renamed"))
    result = suite.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["orphaned baseline *test_tiny.json (test 'test_perf.py::test_tiny' no longer exists*"]
    )
    assert (suite.path / BASELINE).exists()
    # running only another module does not call this baseline an orphan
    suite.makepyfile(test_other=TEST_TINY.replace("test_tiny", "test_elsewhere"))
    result = suite.runpytest("test_other.py")
    assert "orphaned baseline" not in result.stdout.str()


def test_corrupt_baseline_fails_clearly_and_is_kept(suite: pytest.Pytester) -> None:
    _record(suite)
    path = suite.path / BASELINE
    path.write_text(path.read_text()[:300])
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*is corrupt (it looks truncated)*left untouched*"])
    update = suite.runpytest("--triton-baseline=update")
    update.assert_outcomes(failed=1)
    update.stdout.fnmatch_lines(
        ["*The new measurement was not written; pass --triton-baseline-force*"]
    )
    assert len(path.read_text()) == 300
    suite.runpytest("--triton-baseline=update", "--triton-baseline-force").assert_outcomes(passed=1)
    assert (path.parent / "test_tiny.json.invalid-1").exists()


def test_unwritable_baseline_dir_fails_before_measuring(suite: pytest.Pytester) -> None:
    (suite.path / "blocked").write_text("a file, not a directory")
    result = suite.runpytest("--triton-baseline=update", "--triton-baseline-dir=blocked/sub")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*baseline directory *blocked/sub is not writable*"])


def test_ini_twins_of_mode_and_dir(suite: pytest.Pytester) -> None:
    suite.makeini(
        "[pytest]\ntriton_model_repository = models\ntriton_baseline = update\n"
        "triton_baseline_dir = perf/baselines\n"
    )
    suite.runpytest().assert_outcomes(passed=1)
    assert (suite.path / "perf/baselines/test_perf/test_tiny.json").exists()
    off = suite.runpytest("--triton-baseline=off")
    assert "triton-baselines" not in off.stdout.str()


def test_checkpoints_and_exact_key_resume(suite: pytest.Pytester) -> None:
    first = suite.runpytest()
    first.stdout.fnmatch_lines(["checkpoint: *.triton-checkpoints/0.ckpt"])
    resumed = suite.runpytest("--triton-resume")
    resumed.stdout.fnmatch_lines(
        ["resumed from .triton-checkpoints/0.ckpt: 1 measurement(s) reused"]
    )
    assert not (suite.path / ".triton-checkpoints/1.ckpt").exists()  # nothing new to save
    (suite.path / "models/tiny/1/model.py").write_text("# changed\n")
    changed = suite.runpytest("--triton-resume")
    assert "reused" not in changed.stdout.str()


def test_ctrl_c_finishes_the_step_saves_and_stops(suite: pytest.Pytester) -> None:
    """A real SIGINT to a real pytest process, mid-measurement."""
    import signal
    import subprocess
    import sys
    import time

    started = suite.path / "started"
    suite.makepyfile(
        test_perf=TEST_TINY.replace("concurrency=[1, 4]", "concurrency=[1, 2, 4, 8]")
        + "\n\ndef test_after(triton):\n    triton.measure('tiny')\n"
    )
    env = dict(os.environ, FAKE_STEP_SLEEP="1.5", FAKE_STARTED_FILE=str(started))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=suite.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists(), "the measurement never started"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "finishing the current step" in out, out
    assert "interrupted measurement saved to" in out
    record = json.loads((suite.path / ".triton-checkpoints/0.ckpt").read_text())["records"]
    entry = record["test_perf.py::test_tiny [tiny]"]
    assert entry["complete"] is False
    steps = [s["load_point"] for s in entry["measurement"]["steps"]]
    assert steps == ["c1"]  # the step in progress was finished, no further one started
    assert "test_after" not in out.split("interrupted measurement saved")[0].split("\n")[-1]


def test_second_ctrl_c_stops_at_once(suite: pytest.Pytester) -> None:
    import signal
    import subprocess
    import sys
    import time

    started = suite.path / "started"
    env = dict(os.environ, FAKE_STEP_SLEEP="30", FAKE_STARTED_FILE=str(started))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=suite.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    begin = time.monotonic()
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert time.monotonic() - begin < 20, "did not stop at once"
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "interrupted measurement saved to" in out


def test_a_report_path_that_cannot_be_written_fails_the_session_but_not_the_rest(
    suite: pytest.Pytester,
) -> None:
    """A directory given as --triton-report-json: one error line, the markdown still written,
    the terminal summary still shown, and a non-zero exit though every test passed."""
    (suite.path / "out").mkdir()
    result = suite.runpytest("--triton-report-json=out", "--triton-report-md=report.md")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        [
            "*= triton performance =*",
            "1 Triton test(s): 1 passed",
            "*report written: *report.md",
            "ERROR report not written: --triton-report-json *out: is a directory; give a file path",
        ]
    )
    assert "1 Triton test(s): 1 passed ✅." in (suite.path / "report.md").read_text()


def test_the_ci_formats_are_written_where_asked(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--triton-benchmark-json=bench.json", "--triton-github-benchmark=gh")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*report written: *bench.json",
            "*report written: *gh/smaller_is_better.json",
            "*report written: *gh/bigger_is_better.json",
        ]
    )
    bench = json.loads((suite.path / "bench.json").read_text())
    assert [b["param"] for b in bench["benchmarks"]] == ["tiny c1", "tiny c4"]
    bigger = json.loads((suite.path / "gh" / "bigger_is_better.json").read_text())
    assert [e["unit"] for e in bigger] == ["infer/s", "infer/s"]


def test_junit_xml_carries_each_steps_figures_and_its_baseline_change(
    suite: pytest.Pytester,
) -> None:
    import xml.etree.ElementTree as ET

    _record(suite)
    result = suite.runpytest("--junitxml=junit.xml")
    result.assert_outcomes(passed=1)
    case = ET.parse(suite.path / "junit.xml").getroot().find(".//testcase")
    assert case is not None
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert {"triton tiny c1 p50_ms", "triton tiny c4 throughput", "triton tiny c4 p99_ms"} <= set(
        properties
    ), properties
    assert float(properties["triton tiny c1 p50_ms"]) > 0
    # the same fake server measured again: a small change, judged
    change = properties["triton tiny c4 p50 change"]
    assert re.fullmatch(r"[+-]\d+\.\d% (ok|inconclusive)", change), change


def test_the_markdown_report_has_each_steps_change_against_the_baseline(
    suite: pytest.Pytester,
) -> None:
    _record(suite)
    result = suite.runpytest("--triton-report-md=r.md")
    result.assert_outcomes(passed=1)
    md = (suite.path / "r.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| ") and " c4 " in line]
    assert len(rows) == 1, md
    assert re.search(
        r"\| p50 [+-]\d+\.\d% (ok|inconclusive), throughput [+-]\d+\.\d% (ok|inconclusive) \|",
        rows[0],
    ), rows[0]


def test_under_xdist_the_workers_measurements_reach_the_controllers_reports(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        test_more="""
import pytest

@pytest.mark.triton_model("tiny")
@pytest.mark.triton_load(concurrency=[2])
def test_other(triton):
    triton.measure()
"""
    )
    result = suite.runpytest("-n", "2", "--triton-report-json=r.json", "--triton-report-md=r.md")
    result.assert_outcomes(passed=2)
    data = json.loads((suite.path / "r.json").read_text())
    assert sorted(r["test"] for r in data["results"]) == [
        "test_more.py::test_other", "test_perf.py::test_tiny"
    ]  # fmt: skip
    md = (suite.path / "r.md").read_text()
    assert "| c4 |" in md and "| c2 |" in md
    result.stdout.fnmatch_lines(
        [
            "*= triton baselines (from the pytest-xdist workers) =*",
            "ok   test_*.py::test_* [[]tiny] no baseline*",
            "*= triton performance =*",
            "2 Triton test(s): 2 passed",
        ]
    )


def test_a_runner_that_cannot_see_the_tolerance_says_so_and_can_fail(
    suite: pytest.Pytester,
) -> None:
    _record(suite)
    # the default 2 % run noise makes an interval wider than the 5 % tolerance
    result = suite.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "ok   test_perf.py::test_tiny [[]tiny] compared: *; sees *% (c*)",
            "     warning: this runner sees changes of *% or more in c*; the tolerance is 5%",
        ]
    )
    strict = suite.runpytest("--triton-require-resolution")
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["FAIL test_perf.py::test_tiny [[]tiny] resolution too coarse: *"])
    # windows this steady, with no run noise assumed, see the tolerance
    sharp = suite.runpytest("--triton-require-resolution", "--triton-run-noise=0")
    sharp.assert_outcomes(passed=1)
