"""Ensembles against the real bundled tritonserver: a two-step pipeline of python models
whose compute times are set by sleeps, so each step's share of a request is known, and a
slower step is named in the regression message."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from bundled_support import NEEDS_BUNDLED_SERVER, serving

from pytest_triton.load.engine import measure
from pytest_triton.server.local import LocalServer
from pytest_triton.spec import LoadSpec

pytestmark = NEEDS_BUNDLED_SERVER

ENSEMBLE = """\
platform: "ensemble"
max_batch_size: 0
input [ { name: "RAW", data_type: TYPE_FP32, dims: [ 16 ] } ]
output [ { name: "LABEL", data_type: TYPE_FP32, dims: [ 16 ] } ]
ensemble_scheduling {
  step [
    {
      model_name: "preprocess"
      model_version: -1
      input_map { key: "INPUT0", value: "RAW" }
      output_map { key: "OUTPUT0", value: "features" }
    },
    {
      model_name: "classify"
      model_version: -1
      input_map { key: "INPUT0", value: "features" }
      output_map { key: "OUTPUT0", value: "LABEL" }
    }
  ]
}
"""

STEP_CONFIG = """\
backend: "python"
max_batch_size: 0
input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ 16 ] } ]
output [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ 16 ] } ]
"""

# A step that sleeps SLEEP_MS (+ <NAME>_EXTRA_MS from the environment: a slower build).
STEP = """
import os
import time

import triton_python_backend_utils as pb_utils

SLEEP_S = (%(ms)s + float(os.environ.get("%(name)s_EXTRA_MS", "0"))) / 1000


class TritonPythonModel:
    def execute(self, requests):
        time.sleep(SLEEP_S)
        out = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy()
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", x + 1)]))
        return out
"""

PRE_MS, CLASSIFY_MS = 6.0, 2.0

# A BLS model: its python code calls classify itself (Triton's config does not say so).
BLS = """
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        out = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "INPUT0")
            call = pb_utils.InferenceRequest(
                model_name="classify", requested_output_names=["OUTPUT0"], inputs=[x]
            )
            answer = call.exec()
            y = pb_utils.get_output_tensor_by_name(answer, "OUTPUT0")
            out.append(pb_utils.InferenceResponse([y]))
        return out
"""


def _repository(root: Path) -> Path:
    (root / "pipeline" / "1").mkdir(parents=True)
    (root / "pipeline" / "config.pbtxt").write_text(ENSEMBLE)
    for name, ms in (("preprocess", PRE_MS), ("classify", CLASSIFY_MS)):
        (root / name / "1").mkdir(parents=True)
        (root / name / "config.pbtxt").write_text(STEP_CONFIG)
        code = STEP % {"ms": ms, "name": name.upper()}
        (root / name / "1" / "model.py").write_text(textwrap.dedent(code))
    (root / "router" / "1").mkdir(parents=True)
    (root / "router" / "config.pbtxt").write_text(STEP_CONFIG)
    (root / "router" / "1" / "model.py").write_text(textwrap.dedent(BLS))
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    repo = _repository(tmp_path_factory.mktemp("ensemble-models"))
    with serving(repo, tmp_path_factory.mktemp("ensemble-server"), ("pipeline", "router")) as srv:
        yield srv


def test_each_step_of_an_ensemble_has_its_own_queue_and_compute(server: LocalServer) -> None:
    quick = dict(warmup_s=0.3, window_s=0.5, stability_pct=25.0, max_trials=6)
    m = measure(
        server.endpoints, "pipeline", None, LoadSpec(concurrency=(1, 2), **quick),
        is_alive=server.is_alive,
    )  # fmt: skip
    for step in m.steps:
        assert set(step.composing) == {"preprocess", "classify"}, step.composing
        pre, classify = step.composing["preprocess"], step.composing["classify"]
        # the sleeps set each step's compute; Triton and the python stub add a little
        assert PRE_MS * 1000 <= pre.compute_infer_us <= PRE_MS * 1000 + 1500
        assert CLASSIFY_MS * 1000 <= classify.compute_infer_us <= CLASSIFY_MS * 1000 + 1500
        # every request ran both steps; a window's edge may fall between a request's steps
        edge = 2 * step.measured_windows * (step.concurrency or 1)
        assert abs(pre.requests - step.server.requests) <= edge
        assert abs(classify.requests - step.server.requests) <= edge


def test_a_bls_models_calls_are_split_out_too(server: LocalServer) -> None:
    quick = dict(warmup_s=0.3, window_s=0.5, stability_pct=25.0, max_trials=6)
    m = measure(
        server.endpoints, "router", None, LoadSpec(concurrency=(1,), **quick),
        is_alive=server.is_alive,
    )  # fmt: skip
    (step,) = m.steps
    assert set(step.composing) == {"classify"}
    classify = step.composing["classify"].compute_infer_us
    assert CLASSIFY_MS * 1000 <= classify <= CLASSIFY_MS * 1000 + 1500
    # the BLS model's own compute includes the call it waited for
    assert step.server.compute_infer_us >= classify


SUITE = """
import pytest


@pytest.mark.triton_model("pipeline")
@pytest.mark.triton_load(concurrency=[1], window_s=0.5, warmup_s=0.3, measured_windows=5)
def test_pipeline(triton):
    triton.measure()
"""


def test_a_slower_step_is_named_with_the_file_that_changed(tmp_path: Path) -> None:
    repo = _repository(tmp_path / "models")
    (tmp_path / "test_pipeline.py").write_text(SUITE)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable, "-m", "pytest", "test_pipeline.py", "-p", "no:cacheprovider",
                f"--triton-model-repository={repo}", *args,
            ],
            cwd=tmp_path, capture_output=True, text=True, timeout=600,
        )  # fmt: skip

    recorded = run("--triton-baseline=update")
    out = recorded.stdout + recorded.stderr
    assert recorded.returncode == 0, out
    assert "    preprocess: queue " in out and "    classify: queue " in out
    # the preprocess step's code changes and it takes 4 ms more
    code = repo / "preprocess" / "1" / "model.py"
    code.write_text(code.read_text() + "# slower\n")
    slower = run("--triton-env", "PREPROCESS_EXTRA_MS=4")
    out = slower.stdout + slower.stderr
    assert slower.returncode == 1, out
    assert "preprocess/1/model.py changed" in out, out
    # 4 ms more sleep: about 4 ms more compute in that step, the one the message names
    assert re.search(r"of the models it ran, most: compute in preprocess \+[3-5]\.\d+ ms", out)
