"""Token streams: the native driver against `perf_analyzer --streaming`, same decoupled model and
server, one run.

A python decoupled model streams TOKENS responses per request, the first FIRST_MS after the
request arrives and then one every GAP_MS. For each concurrency, alternating rounds
(perf_analyzer, ours, perf_analyzer, ours...) so a slow minute hits both alike:

* perf_analyzer 2.41 with --streaming reports response throughput (responses/s: tokens/s) and
  request latency; it has no time to first token or inter-token latency;
* ours reports output tokens/s, request latency, and TTFT and ITL, which are checked against
  the delays the model sleeps.

Printed: per-round figures, and the medians of our tokens/s over its response throughput
(target >= 1.0) and of our request p50 over its p50 (target within 10 %).

    scripts/provision_perf_analyzer.sh
    python benchmarks/streaming_vs_perf_analyzer.py [--rounds 3] [--concurrency 1,4,8]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from pytest_triton.load.engine import measure
from pytest_triton.load.perf_analyzer import find_perf_analyzer
from pytest_triton.server.local import LocalServer
from pytest_triton.server.models import ModelController
from pytest_triton.spec import LoadSpec, ModelSpec, ServerSpec

TOKENS, FIRST_MS, GAP_MS, INSTANCES = 16, 20.0, 4.0, 8

CONFIG = f"""\
backend: "python"
max_batch_size: 0
model_transaction_policy {{ decoupled: true }}
input [ {{ name: "INPUT_IDS", data_type: TYPE_INT32, dims: [ 8 ] }} ]
output [ {{ name: "TOKEN", data_type: TYPE_INT32, dims: [ 1 ] }} ]
instance_group [ {{ kind: KIND_CPU, count: {INSTANCES} }} ]
"""

MODEL = f"""
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        for request in requests:
            sender = request.get_response_sender()
            time.sleep({FIRST_MS / 1000})
            for i in range({TOKENS}):
                if i:
                    time.sleep({GAP_MS / 1000})
                token = pb_utils.Tensor("TOKEN", np.array([i], dtype=np.int32))
                flags = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL if i == {TOKENS - 1} else 0
                sender.send(pb_utils.InferenceResponse([token]), flags=flags)
        return None
"""


def perf_analyzer_streaming(grpc: str, concurrency: int, window_s: float) -> tuple[float, float]:
    """(response throughput /s, request p50 ms) from one perf_analyzer --streaming run."""
    argv = [
        str(find_perf_analyzer()), "-m", "token_stream", "-u", grpc, "-i", "grpc", "--streaming",
        "--concurrency-range", str(concurrency),
        "--measurement-interval", str(round(window_s * 1000)), "-s", "10", "-r", "10",
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    text = out.stdout + out.stderr
    responses = re.search(r"Response Throughput: ([\d.]+)", text)
    p50 = re.search(r"p50 latency: (\d+) usec", text)
    if out.returncode != 0 or responses is None or p50 is None:
        raise SystemExit(f"perf_analyzer --streaming failed ({out.returncode}):\n{text}")
    return float(responses[1]), int(p50[1]) / 1000.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument("--window", type=float, default=2.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="streaming-vs-pa-"))
    repo = work / "models"
    (repo / "token_stream" / "1").mkdir(parents=True)
    (repo / "token_stream" / "config.pbtxt").write_text(CONFIG)
    (repo / "token_stream" / "1" / "model.py").write_text(MODEL)
    print(
        f"model: {TOKENS} tokens, first after {FIRST_MS:g} ms, then every {GAP_MS:g} ms; "
        f"{INSTANCES} instances",
        flush=True,
    )
    ratios_tokens: list[float] = []
    ratios_p50: list[float] = []
    with LocalServer(ServerSpec("local", model_repository=repo), work / "server") as server:
        ModelController(server.endpoints.http, repo).load(ModelSpec("token_stream"))
        for c in (int(x) for x in args.concurrency.split(",")):
            for r in range(1, args.rounds + 1):
                pa_tokens, pa_p50 = perf_analyzer_streaming(server.endpoints.grpc, c, args.window)
                load = LoadSpec(concurrency=(c,), window_s=args.window, max_window_retries=0)
                (step,) = measure(
                    server.endpoints, "token_stream", None, load, is_alive=server.is_alive
                ).steps
                stream = step.stream
                assert stream is not None
                ratios_tokens.append(stream.output_tokens_per_s / pa_tokens)
                ratios_p50.append(step.p50_ms / pa_p50)
                print(
                    f"c{c} round {r}: perf_analyzer {pa_tokens:8.1f} responses/s p50 "
                    f"{pa_p50:7.2f} ms | ours {stream.output_tokens_per_s:8.1f} tokens/s p50 "
                    f"{step.p50_ms:7.2f} ms, TTFT p50 {stream.ttft_p50_ms:6.2f} ms (set "
                    f"{FIRST_MS:g}), ITL p50 {stream.itl_p50_ms:5.2f} ms (set {GAP_MS:g}), "
                    f"{stream.tokens_per_request:.0f} tokens/request",
                    flush=True,
                )
    print(
        f"\nmedian our tokens/s / its response throughput: {statistics.median(ratios_tokens):.3f}"
        f"\nmedian our request p50 / its p50: {statistics.median(ratios_p50):.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
