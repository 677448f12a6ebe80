"""Config search against the real bundled server: a model whose throughput is set by its
instance count (each request sleeps 20 ms), searched through config overrides."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_triton.baseline.checkpoint import read_checkpoint
from pytest_triton.errors import BaselineError
from pytest_triton.server.bundled import bundled_server_root

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bundled_server_root() is None, reason="no bundled tritonserver"),
]

CONFIG = """\
backend: "python"
max_batch_size: 0
input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ 16 ] } ]
output [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ 16 ] } ]
instance_group [ { kind: KIND_CPU, count: 1 } ]
"""

# Sleeps 20 ms a request, so n instances serve about n x 50 requests/s at concurrency n or
# more whatever the machine's speed; a BROKEN parameter makes its load fail.
MODEL = """
import json
import re
import time

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        if "BROKEN" in json.loads(args["model_config"]).get("parameters", {}):
            raise RuntimeError("this config cannot be loaded")

    def execute(self, requests):
        time.sleep(0.02)
        out = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy()
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", x + 1.0)]))
        return out
"""

SUITE = """
import pytest

LOAD = dict(window_s=0.5, warmup_s=0.3)


@pytest.mark.triton_model("sleepy")
@pytest.mark.triton_load(**LOAD)
@pytest.mark.triton_slo(p99_ms=200)
@pytest.mark.triton_search(
    space={{
        "instance_group": [{{"kind": "KIND_CPU", "count": [1, 2]}}],
        "parameters": [{{}}, {{"BROKEN": {{"string_value": "yes"}}}}],
        "max_batch_size": [0, 8],
    }},
    parameters={{"concurrency": [4]}},
    max_gap_to_best={gap!r},
)
def test_sleepy_config(triton):
    triton.search()


@pytest.mark.triton_model("sleepy")
@pytest.mark.triton_load(max_concurrency=8, **LOAD)
@pytest.mark.triton_search(
    space={{"instance_group": [{{"kind": "KIND_CPU", "count": [1, 2, 3, 4]}}]}},
    mode="quick",
)
def test_sleepy_quick(triton):
    result = triton.search()
    assert result.winner is not None
"""


def _run(tmp_path: Path, gap: str, *args: str) -> subprocess.CompletedProcess[str]:
    repo = tmp_path / "models"
    (repo / "sleepy" / "1").mkdir(parents=True)
    (repo / "sleepy" / "config.pbtxt").write_text(CONFIG)
    (repo / "sleepy" / "1" / "model.py").write_text(textwrap.dedent(MODEL))
    (tmp_path / "test_search_suite.py").write_text(SUITE.format(gap=gap))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--triton-model-repository={repo}",
            "--triton-baseline=off",
            f"--triton-report-json={tmp_path / 'report.json'}",
            f"--triton-report-html={tmp_path / 'report.html'}",
            *args,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_search_finds_the_better_config_and_fails_the_committed_one(tmp_path: Path) -> None:
    run = _run(tmp_path, "10%")
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "1 failed, 1 passed" in out, out
    # every point has a live line; the ones Triton cannot serve are skipped, with the reason
    assert "search 1/8: instance_group kind KIND_CPU count 1, parameters" in out
    assert "skipped (max_batch_size 8 on a model that cannot batch" in out
    assert "skipped (load failed:" in out and "this config cannot be loaded" in out
    failure = out.split("FAILURES", 1)[1]
    assert re.search(
        r"a better config exists: instance_group kind KIND_CPU count 2, parameters on, "
        r"max_batch_size 0: \+\d+% \[\+\d+%, \+\d+%\] throughput",
        failure,
    ), failure
    assert "throughput at p99 <= 200 ms than the committed config (max_gap_to_best 10%)" in failure
    assert "instance_group {\n  count: 2\n  kind: KIND_CPU\n}" in failure

    report = json.loads((tmp_path / "report.json").read_text())
    (searched, quick) = [r for r in report["results"] if r["search"]]
    rows = searched["search"]["configs"]
    assert len(rows) == 8 and rows[0]["rank"] == 1 and "count 2" in rows[0]["config"]
    committed = [r for r in rows if r["committed"]]
    assert len(committed) == 1 and committed[0]["rank"] == 2
    # two instances serve about twice what one does: the sleep sets it, not the machine
    assert 0.6 < searched["search"]["gain_over_committed"] < 1.4
    # the test's measurement is the winner's, loaded through the config override
    assert searched["model"]["config_override"]["instance_group"][0]["count"] == 2

    # quick, on the auto ramp: climbs the instance count to 4 on looks (probe ramps), then
    # measures the two best looks to stability; the one it only looked at ranks after them
    assert "search 2/4: instance_group kind KIND_CPU count 2: looked at (probes): " in out
    quick_rows = quick["search"]["configs"]
    assert [r["config"][-7:] for r in quick_rows] == ["count 4", "count 3", "count 1", "count 2"]
    assert [r["rank"] for r in quick_rows] == [1, 2, 3, None]
    assert quick_rows[3]["status"].startswith("looked at only") and quick_rows[3]["throughput"]
    # the committed config is the repository's, though the test before it loaded others
    committed = [r["config"] for r in quick_rows if r["committed"]]
    assert committed == ["instance_group kind KIND_CPU count 1"]
    html = (tmp_path / "report.html").read_text()
    assert "p99 vs throughput of the top configs" in html and "(committed)" in html
    assert "p99 bound 200 ms" in html  # the latency budget drawn, as Model Analyzer's chart does


def test_a_committed_config_within_the_gap_passes(tmp_path: Path) -> None:
    run = _run(tmp_path, "300%", "-k", "sleepy_config", "-rP")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "best: instance_group kind KIND_CPU count 2" in out


YAML = """\
model_repository: models
run_config_search_max_concurrency: 4
constraints:
  perf_latency_p99:
    max: 500
profile_models:
  sleepy:
    model_config_parameters:
      instance_group:
        - kind: KIND_CPU
          count: [1, 2]
"""


def test_a_model_analyzer_config_runs_as_a_suite(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    (repo / "sleepy" / "1").mkdir(parents=True)
    (repo / "sleepy" / "config.pbtxt").write_text(CONFIG)
    (repo / "sleepy" / "1" / "model.py").write_text(textwrap.dedent(MODEL))
    (tmp_path / "perf.yaml").write_text(YAML)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "perf.yaml",
            "-p",
            "no:cacheprovider",
            "--triton-window=0.5",
            "--triton-warmup=0.3",
            "--triton-baseline=off",
            f"--triton-report-json={tmp_path / 'report.json'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "1 passed" in out
    (result,) = json.loads((tmp_path / "report.json").read_text())["results"]
    assert result["test"] == "perf.yaml::sleepy"
    # no load points given: the auto ramp, bounded by run_config_search_max_concurrency
    assert result["load"]["auto"] and result["load"]["max_concurrency"] == 4
    assert [s["concurrency"] for s in result["measurement"]["steps"] if not s["probe"]][-1] <= 4
    assert result["slo"] == {"p99_ms": 500.0}
    assert result["search"]["configs"][0]["config"] == "instance_group kind KIND_CPU count 2"


def test_a_killed_search_resumes_without_measuring_its_finished_configs(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    (repo / "sleepy" / "1").mkdir(parents=True)
    (repo / "sleepy" / "config.pbtxt").write_text(CONFIG)
    (repo / "sleepy" / "1" / "model.py").write_text(textwrap.dedent(MODEL))
    (tmp_path / "test_killed.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.triton_model("sleepy")
            @pytest.mark.triton_load(window_s=0.5, warmup_s=0.3, concurrency=[4])
            @pytest.mark.triton_search(space={"instance_group": [{"count": [1, 2, 3, 4]}]})
            def test_killed(triton):
                triton.search()
            """
        )
    )
    checkpoints = tmp_path / "ckpt"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "test_killed.py",
        "-p",
        "no:cacheprovider",
        f"--triton-model-repository={repo}",
        f"--triton-checkpoint-dir={checkpoints}",
    ]
    first = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 300
        done: list[str] = []
        while len(done) < 2 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.2)
            files = sorted(checkpoints.glob("*.ckpt"))
            if files:
                try:
                    done = [k for k in read_checkpoint(files[-1]) if " search " in k]
                except BaselineError:
                    done = []  # caught between two writes of the file: look again
        assert len(done) >= 2, "the search did not checkpoint two configs"
    finally:
        os.kill(first.pid, signal.SIGKILL)  # no chance to save anything more
        first.wait()
    resumed = subprocess.run(
        [*command, "--triton-resume"], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out
    reused = [line for line in out.splitlines() if "(from the checkpoint)" in line]
    assert len(reused) >= 2, out
    # a reused config is not measured again: no live step line before its search line
    assert out.count("test_killed c4") == 4 - len(reused), out
