"""Decoupled (streaming) models against the real bundled tritonserver: a python model that
streams a set number of tokens after a set first-token delay and a set gap, so the measured
time to first token and inter-token latency have known right answers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from bundled_support import NEEDS_BUNDLED_SERVER, serving

from pytest_triton.errors import ConfigError
from pytest_triton.load.engine import measure
from pytest_triton.server.local import LocalServer
from pytest_triton.spec import SLO, LoadSpec

pytestmark = NEEDS_BUNDLED_SERVER

TOKENS, FIRST_MS, GAP_MS = 6, 30.0, 10.0

CONFIG = f"""\
backend: "python"
max_batch_size: 0
model_transaction_policy {{ decoupled: true }}
input [ {{ name: "INPUT_IDS", data_type: TYPE_INT32, dims: [ 8 ] }} ]
output [ {{ name: "TOKEN", data_type: TYPE_INT32, dims: [ 1 ] }} ]
instance_group [ {{ kind: KIND_CPU, count: 2 }} ]
parameters {{ key: "TOKENS" value {{ string_value: "{TOKENS}" }} }}
parameters {{ key: "FIRST_TOKEN_MS" value {{ string_value: "{FIRST_MS:g}" }} }}
parameters {{ key: "TOKEN_MS" value {{ string_value: "{GAP_MS:g}" }} }}
"""

ECHO_CONFIG = """\
backend: "python"
max_batch_size: 0
input [ { name: "INPUT_IDS", data_type: TYPE_INT32, dims: [ 8 ] } ]
output [ { name: "OUTPUT", data_type: TYPE_INT32, dims: [ 8 ] } ]
"""

ECHO = """
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        out = []
        for r in requests:
            ids = pb_utils.get_input_tensor_by_name(r, "INPUT_IDS").as_numpy()
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT", ids)]))
        return out
"""

MODEL = """
import json
import os
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"]).get("parameters", {})
        value = lambda key: float(params[key]["string_value"])
        self.tokens = int(value("TOKENS"))
        self.first_s = value("FIRST_TOKEN_MS") / 1000
        # a slower build, for the baseline gate's test: more time between tokens only
        self.gap_s = (value("TOKEN_MS") + float(os.environ.get("EXTRA_GAP_MS", "0"))) / 1000

    def execute(self, requests):
        for request in requests:
            sender = request.get_response_sender()
            time.sleep(self.first_s)
            for i in range(self.tokens):
                if i:
                    time.sleep(self.gap_s)
                token = pb_utils.Tensor("TOKEN", np.array([i], dtype=np.int32))
                last = i == self.tokens - 1
                flags = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL if last else 0
                sender.send(pb_utils.InferenceResponse([token]), flags=flags)
        return None
"""

# An LLM's interface: a prompt in, max_tokens words streamed out (the prompt's, cycling). Its
# "prefill" takes 0.2 ms a prompt word, then the words come GAP_MS apart.
LLM_CONFIG = """\
backend: "python"
max_batch_size: 0
model_transaction_policy { decoupled: true }
input [
  { name: "text_input", data_type: TYPE_STRING, dims: [ 1 ] },
  { name: "max_tokens", data_type: TYPE_INT32, dims: [ 1 ] }
]
output [ { name: "text_output", data_type: TYPE_STRING, dims: [ 1 ] } ]
instance_group [ { kind: KIND_CPU, count: 2 } ]
"""

LLM = f"""
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        for request in requests:
            sender = request.get_response_sender()
            prompt = pb_utils.get_input_tensor_by_name(request, "text_input").as_numpy()
            words = prompt.reshape(-1)[0].decode().split()
            n = int(pb_utils.get_input_tensor_by_name(request, "max_tokens").as_numpy()[0])
            time.sleep(0.0002 * len(words))
            for i in range(n):
                if i:
                    time.sleep({GAP_MS / 1000})
                word = np.array([words[i % len(words)].encode()], dtype=object)
                flags = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL if i == n - 1 else 0
                sender.send(
                    pb_utils.InferenceResponse([pb_utils.Tensor("text_output", word)]),
                    flags=flags,
                )
        return None
"""

QUICK = dict(warmup_s=0.3, window_s=1.0, stability_pct=25.0, max_trials=6, max_window_retries=0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    repo = tmp_path_factory.mktemp("stream-models")
    (repo / "token_stream" / "1").mkdir(parents=True)
    (repo / "token_stream" / "config.pbtxt").write_text(CONFIG)
    (repo / "token_stream" / "1" / "model.py").write_text(textwrap.dedent(MODEL))
    (repo / "llm" / "1").mkdir(parents=True)
    (repo / "llm" / "config.pbtxt").write_text(LLM_CONFIG)
    (repo / "llm" / "1" / "model.py").write_text(textwrap.dedent(LLM))
    (repo / "echo" / "1").mkdir(parents=True)
    (repo / "echo" / "config.pbtxt").write_text(ECHO_CONFIG)
    (repo / "echo" / "1" / "model.py").write_text(ECHO)
    workdir = tmp_path_factory.mktemp("stream-server")
    with serving(repo, workdir, ("token_stream", "llm", "echo")) as srv:
        yield srv


def test_time_to_first_token_and_inter_token_latency_match_the_models_delays(
    server: LocalServer,
) -> None:
    m = measure(
        server.endpoints,
        "token_stream",
        None,
        LoadSpec(concurrency=(1, 2), **QUICK),
        SLO(ttft_p99_ms=200, itl_p50_ms=50),
        is_alive=server.is_alive,
    )
    for step in m.steps:
        stream = step.stream
        assert stream is not None and step.errors == 0, step
        # Stated tolerance: the model sleeps the set delays, and Triton, the python backend's
        # IPC and a shared 2-core machine add a little on top, never take any off.
        assert FIRST_MS <= stream.ttft_p50_ms <= FIRST_MS + 8, stream
        assert GAP_MS <= stream.itl_p50_ms <= GAP_MS + 3, stream
        assert stream.tokens_per_request == TOKENS
        # the request ends with its last token: first token, then the gaps
        expected = FIRST_MS + (TOKENS - 1) * GAP_MS
        assert expected <= step.p50_ms <= expected + 12
        # two instances each stream one request at a time: tokens/s follows the delays
        per_request_s = expected / 1000
        rate = TOKENS * step.concurrency / per_request_s
        assert 0.75 * rate <= stream.output_tokens_per_s <= 1.02 * rate, stream


def test_synthetic_prompts_and_the_output_length_reach_an_llms_inputs(
    server: LocalServer,
) -> None:
    # 400-word prompts take the model 80 ms to "prefill"; 12 words are asked for
    load = LoadSpec(concurrency=(1,), prompts="synthetic:400,20", output_tokens=12, **QUICK)
    (step,) = measure(server.endpoints, "llm", None, load, is_alive=server.is_alive).steps
    stream = step.stream
    assert stream is not None and step.errors == 0, step
    assert stream.tokens_per_request == 12
    # the prompts' own spread (SD 20 words: 4 ms) either side, the server's overhead above
    assert 80 - 6 <= stream.ttft_p50_ms <= 80 + 12, stream
    assert GAP_MS <= stream.itl_p50_ms <= GAP_MS + 3, stream
    # a shorter prompt is a faster first token: the prompts really are what the model read
    short = replace(load, prompts="synthetic:40,4")
    (quick,) = measure(server.endpoints, "llm", None, short, is_alive=server.is_alive).steps
    assert quick.stream is not None and quick.stream.ttft_p50_ms < stream.ttft_p50_ms - 50


def test_a_mismatch_between_the_load_and_the_model_is_refused_before_any_load(
    server: LocalServer,
) -> None:
    with pytest.raises(ConfigError, match="'token_stream' is decoupled"):
        measure(server.endpoints, "token_stream", None, LoadSpec(streaming=False, **QUICK))
    with pytest.raises(ConfigError, match="ttft_p99_ms: model 'echo' is not decoupled"):
        measure(server.endpoints, "echo", None, LoadSpec(**QUICK), SLO(ttft_p99_ms=10))
    with pytest.raises(ConfigError, match="model 'echo' is not decoupled"):
        measure(server.endpoints, "echo", None, LoadSpec(streaming=True, **QUICK))


SUITE = """
import pytest


@pytest.mark.triton_model("token_stream")
@pytest.mark.triton_load(concurrency=[1, 2], window_s=0.5, warmup_s=0.3, measured_windows=5)
@pytest.mark.triton_slo(ttft_p99_ms=200, itl_p50_ms=40, min_output_tokens_per_s=50)
def test_tokens(triton):
    triton.measure()
"""


def _suite(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    repo = tmp_path / "models"
    if not repo.exists():
        (repo / "token_stream" / "1").mkdir(parents=True)
        (repo / "token_stream" / "config.pbtxt").write_text(CONFIG)
        (repo / "token_stream" / "1" / "model.py").write_text(textwrap.dedent(MODEL))
        (tmp_path / "test_llm.py").write_text(SUITE)
    return subprocess.run(
        [
            sys.executable, "-m", "pytest", "test_llm.py", "-p", "no:cacheprovider",
            f"--triton-model-repository={repo}", *args,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip


def test_a_slower_token_stream_fails_on_its_inter_token_latency_not_its_first_token(
    tmp_path: Path,
) -> None:
    recorded = _suite(tmp_path, "--triton-baseline=update")
    out = recorded.stdout + recorded.stderr
    assert recorded.returncode == 0, out
    # the step lines and the summary table carry the stream's figures
    assert "TTFT p50 " in out and "tokens/s" in out
    assert "TTFT p50 TTFT p99  ITL p50  tokens/s" in out

    # 10 ms between tokens becomes 16: ITL and tokens/s move, the first token does not
    slower = _suite(tmp_path, "--triton-env", "EXTRA_GAP_MS=6", "-rA")
    out = slower.stdout + slower.stderr
    assert slower.returncode == 1, out
    summary = out.split("triton baselines", 1)[1]
    assert "REGRESSED" in summary and "itl_p50" in summary, summary
    lines = [line for line in out.splitlines() if line.strip().startswith(("c1 ", "c2 "))]
    ttft = [line for line in lines if "ttft_p50" in line]
    itl = [line for line in lines if "itl_p50" in line]
    assert ttft and itl, out
    assert all("REGRESSION" not in line for line in ttft), ttft
    assert all("REGRESSION" in line for line in itl), itl
