"""The baseline gate end to end against the real bundled server and the example `tiny` model."""

from __future__ import annotations

import json
import re
import shutil
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
TEST = "example_suite/test_tiny.py"


def _run(tmp_path: Path, *args: str, extra_ms: str = "2") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            TEST,
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'run'}",
            f"--triton-baseline-dir={tmp_path / 'baselines'}",
            f"--triton-checkpoint-dir={tmp_path / 'ckpt'}",
            "--triton-env",
            f"EXAMPLE_EXTRA_MS_TINY={extra_ms}",
            *args,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_record_then_catch_a_real_slowdown(tmp_path: Path) -> None:
    recorded = _run(tmp_path, "--triton-baseline=update")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    (path,) = (tmp_path / "baselines").rglob("*.json")
    data = json.loads(path.read_text())
    (env,) = data["environments"].values()
    fp = env["fingerprint"]
    assert fp["server_kind"] == "local" and fp["server_version"].count(".") == 2
    assert len(fp["server_digest"]) == 64 and fp["cpu_count"] >= 1
    record = env["measurements"]["tiny"]
    assert record["subject"]["files"]["files"]["1/model.py"]
    assert record["subject"]["config"]["instance_group"][0]["count"] == 1
    steps = record["measurement"]["steps"]
    assert [s["load_point"] for s in steps] == ["c1", "c4"]
    assert all(len(s["windows"]) >= 2 for s in steps)

    # 2 ms -> 6 ms of sleep per request: several times the latency, always caught.
    slow = _run(tmp_path, extra_ms="6")
    out = slow.stdout
    assert slow.returncode == 1, out + slow.stderr
    assert "performance regression against the baseline of 'tiny'" in out
    assert "c1 p50" in out and "REGRESSION" in out and "mostly compute" in out
    assert "FAIL test_tiny.py::test_tiny_meets_its_slo [tiny] REGRESSED" in out
    assert json.loads(path.read_text()) == data  # compare never writes


def _baseline_build(tmp_path: Path, extra_ms: str | None) -> Path:
    """The example models as another build would have them; `extra_ms` writes tiny's sleep
    into its code (None: the very same files)."""
    build = tmp_path / "base"
    shutil.copytree(
        REPO_ROOT / "example_suite" / "model_repository",
        build,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    if extra_ms is not None:
        model = build / "tiny" / "1" / "model.py"
        code = re.sub(
            r"^EXTRA_S = .*$", f"EXTRA_S = {extra_ms} / 1000.0", model.read_text(), flags=re.M
        )
        model.write_text(code)
    return build


def test_paired_with_the_baseline_build_on_one_server(tmp_path: Path) -> None:
    # No stored baseline anywhere: the baseline build is measured in turn with this one.
    same = _run(
        tmp_path,
        f"--triton-baseline-build={_baseline_build(tmp_path, None)}",
        "-o",
        "triton_window=0.5",
    )
    out = same.stdout
    assert same.returncode == 0, out + same.stderr
    test = "test_tiny.py::test_tiny_meets_its_slo [tiny]"
    assert f"ok   {test} compared with the baseline build:" in out
    assert not (tmp_path / "baselines").exists()
    # Both builds loaded alike from their files; the repository's own `tiny` not as a third.
    log = (tmp_path / "run" / "triton0" / "tritonserver.log").read_text()
    assert "successfully loaded 'tiny__current__build'" in log
    assert "successfully loaded 'tiny__baseline_build'" in log
    assert "successfully loaded 'tiny'" not in log

    # This build sleeps 6 ms a request where the baseline build's code sleeps none.
    shutil.rmtree(tmp_path / "base")
    slow = _run(
        tmp_path,
        f"--triton-baseline-build={_baseline_build(tmp_path, '0')}",
        "-o",
        "triton_window=0.5",
        extra_ms="6",
    )
    out = slow.stdout
    assert slow.returncode == 1, out + slow.stderr
    assert "performance regression against the baseline build of 'tiny'" in out
    assert "c1 p50" in out and "REGRESSION" in out and "mostly compute" in out
    assert "changed: 1/model.py changed" in out
    # the interval came from the four block pairs, each of which saw the slowdown
    pairs = re.search(r"pairs: c1 p50: (.*) \(4 pairs in time order\)", out)
    assert pairs is not None, out
    assert all(float(change.rstrip("%")) > 50 for change in pairs.group(1).split())
    assert f"FAIL {test} REGRESSED with the baseline build" in out


def test_calibrate_the_runner_then_compare_with_its_measured_noise(tmp_path: Path) -> None:
    calibration = tmp_path / "calibration"
    options = (f"--triton-calibration-dir={calibration}", "-o", "triton_window=0.5", "-rP")
    for n in (1, 2, 3):
        run = _run(tmp_path, "--triton-calibrate", *options)
        assert run.returncode == 0, run.stdout + run.stderr
        assert f"calibration session {n} of 'tiny' written to" in run.stdout, run.stdout
    assert "comparisons on this runner now use it" in run.stdout
    assert not (tmp_path / "baselines").exists()  # calibrating records no baseline
    (path,) = calibration.rglob("*.json")
    (env,) = json.loads(path.read_text())["environments"].values()
    assert len(env["sessions"]) == 3
    assert {"c1 p50", "c4 throughput"} <= set(env["sessions"][0]["rows"])
    # an identical copy measured in turn: the offsets are small, not zero
    offsets = [s["rows"]["c1 p50"]["offset_pct"] for s in env["sessions"]]
    assert all(abs(o) < 25 for o in offsets) and any(o != 0 for o in offsets)

    recorded = _run(tmp_path, "--triton-baseline=update", *options)
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    compared = _run(tmp_path, *options)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert "with the noise 3 calibration sessions measured on this runner" in compared.stdout

    # Sized from the calibration, with tolerances its rows can see at some size: the windows
    # they need, the baseline recorded at that size (its earlier session still averaged in:
    # the length of a step is not what was measured) and the comparison measured alike.
    sized = (
        *options,
        "--triton-size-measurement",
        "--triton-tolerance=p50=40% throughput=40% capacity=off",
    )
    resized = _run(tmp_path, "--triton-baseline=update", *sized)
    assert resized.returncode == 0, resized.stdout + resized.stderr
    found = re.search(
        r"measurement sized from the calibration: (\d+) measured windows per step", resized.stdout
    )
    assert found is not None, resized.stdout
    windows = int(found.group(1))
    assert "the baseline is now the mean of 2 sessions" in resized.stdout
    (path,) = (tmp_path / "baselines").rglob("*.json")
    (env,) = json.loads(path.read_text())["environments"].values()
    record = env["measurements"]["tiny"]
    assert record["subject"]["load"]["measured_windows"] == windows
    measured = [s["measured_windows"] for s in record["measurement"]["steps"] if not s.get("probe")]
    assert measured and all(n == windows for n in measured)
    again = _run(tmp_path, *sized)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"sized from the calibration: {windows} measured windows per step" in again.stdout
