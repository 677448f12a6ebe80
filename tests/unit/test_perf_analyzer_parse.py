"""perf_analyzer driver: command line, and parsing of its CSV, profile export and log.

The CSV and log lines are verbatim perf_analyzer 2.41 output captured against the example server.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pytest_triton.errors import MeasurementError
from pytest_triton.load.perf_analyzer import (
    build_argv,
    find_perf_analyzer,
    parse_csv,
    parse_export,
    parse_passes,
)
from pytest_triton.load.step import LoadPoint, StepSettings
from pytest_triton.server.base import Endpoints
from pytest_triton.spec import LoadSpec

VERBOSE_CSV = """\
Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,p50 latency,p90 latency,p95 latency,p99 latency,Avg latency,request/response,response wait,Avg GPU Utilization,Avg GPU Power Usage,Max GPU Memory Usage,Total GPU Memory
2,2568.74,3,250,212,20,157,131,1,706,1124,1289,1746,777,4,762,,,,
"""  # noqa: E501

RATE_CSV = """\
Request Rate,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,p50 latency,p90 latency,p95 latency,p99 latency
500,482.309,7,247,82,20,153,110,1,541,1005,1130,1383
"""  # noqa: E501

UNSTABLE_LOG = """\
*** Measurement Settings ***
  Batch size: 1
  Using "time_windows" mode for stabilization
  Measurement window: 300 msec
  Pass [1] throughput: 2845.36 infer/sec. Avg latency: 701 usec (std 325 usec). 
  Pass [2] throughput: 2880.09 infer/sec. Avg latency: 693 usec (std 234 usec). 
  Pass [3] throughput: 3106.58 infer/sec. Avg latency: 643 usec (std 315 usec). 
Failed to obtain stable measurement within 3 measurement windows for concurrency 2.
"""  # noqa: W291


def test_verbose_csv_row():
    row = parse_csv(VERBOSE_CSV)
    assert row.throughput == pytest.approx(2568.74)
    assert (row.p50_ms, row.p90_ms, row.p95_ms, row.p99_ms) == pytest.approx(
        (0.706, 1.124, 1.289, 1.746)
    )
    assert row.avg_ms == pytest.approx(0.777)
    assert row.split.queue_us == 212 and row.split.compute_infer_us == 157
    assert row.split.compute_input_us == 20 and row.split.compute_output_us == 131


def test_rate_csv_without_average_sums_the_components():
    row = parse_csv(RATE_CSV)
    assert row.throughput == pytest.approx(482.309)
    assert row.avg_ms == pytest.approx((7 + 247 + 82 + 20 + 153 + 110 + 1) / 1000)
    assert row.p99_ms == pytest.approx(1.383)


def test_empty_csv_is_an_error():
    with pytest.raises(MeasurementError, match="without a result row"):
        parse_csv(VERBOSE_CSV.splitlines()[0] + "\n")


def test_export_windows_bucket_requests_by_response_time():
    s = 1_000_000_000
    doc = {
        "experiments": [
            {
                "experiment": {"mode": "concurrency", "value": 2},
                "window_boundaries": [0, s, 2 * s],
                "requests": [
                    {"timestamp": 100, "response_timestamps": [100 + 2_000_000]},
                    {"timestamp": s - 1_000_000, "response_timestamps": [s + 3_000_000]},
                    {"timestamp": s + 5, "response_timestamps": [s + 5 + 1_000_000]},
                    {"timestamp": 2 * s - 1, "response_timestamps": []},  # never answered
                    {"timestamp": 2 * s, "response_timestamps": [2 * s + 10]},  # after the end
                ],
            }
        ],
        "version": "2.41.0",
    }
    windows = parse_export(doc, batch_size=2)
    assert len(windows) == 2
    (w0, l0), (w1, l1) = windows
    assert l0 == [2_000_000] and sorted(l1) == [1_000_000, 4_000_000]
    assert w0.requests == 1 and w1.requests == 2
    assert w1.throughput == pytest.approx(4.0)  # 2 requests * batch 2 / 1 s
    assert w1.avg_ms == pytest.approx(2.5)
    assert parse_export({"experiments": []}, 1) == []


def test_unstable_runs_keep_the_pass_lines():
    windows = parse_passes(UNSTABLE_LOG, 0.3, 1)
    assert [w.throughput for w in windows] == [2845.36, 2880.09, 3106.58]
    assert windows[0].avg_ms == pytest.approx(0.701)
    assert math.isnan(windows[0].p99_ms)


def _settings(**kw) -> StepSettings:
    base = StepSettings.from_load(LoadSpec(), None)
    from dataclasses import replace

    return replace(base, **kw)


def test_argv_for_a_concurrency_step(tmp_path: Path):
    load = LoadSpec(batch_size=2, stability_pct=7, max_trials=6, shapes={"IN": (3, 4)})
    argv = build_argv(
        Path("/bin/pa"), Endpoints("127.0.0.1:9001", "127.0.0.1:9000"), "m", "2", load,
        LoadPoint(concurrency=8), _settings(batch_size=2, stability_pct=7.0, max_trials=6,
        latency_stat="p99"), 1.5, tmp_path / "a.csv", tmp_path / "a.json", {"IN": (3, 4)},
    )  # fmt: skip
    joined = " ".join(argv)
    assert argv[:4] == ["/bin/pa", "-v", "-m", "m"]
    assert "-x 2" in joined and "-u 127.0.0.1:9001 -i grpc -b 2" in joined
    assert "--measurement-interval 1500" in joined and "-s 7 -r 6" in joined
    assert "--percentile=99" in joined and "--concurrency-range 8" in joined
    assert "--shape IN:3,4" in joined and "--input-data random" in joined
    assert f"-f {tmp_path / 'a.csv'} --verbose-csv" in joined


def test_argv_for_a_poisson_rate_step_over_http(tmp_path: Path):
    load = LoadSpec(concurrency=(), request_rate=(250.0,), protocol="http",
                    rate_distribution="poisson", window_requests=500)  # fmt: skip
    argv = build_argv(
        Path("pa"), Endpoints("h:1", "h:2"), "m", None, load, LoadPoint(rate=250.0),
        _settings(distribution="poisson", window_requests=500), 2.0,
        tmp_path / "a.csv", tmp_path / "a.json",
    )  # fmt: skip
    joined = " ".join(argv)
    assert "-u h:2 -i http" in joined and "-x" not in argv
    assert "--request-rate-range 250 --request-distribution poisson" in joined
    assert "--measurement-mode count_windows --measurement-request-count 500" in joined
    assert "--percentile" not in joined  # avg latency: perf_analyzer's default


def test_binary_lookup(tmp_path: Path, monkeypatch):
    fake = tmp_path / "perf_analyzer"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PERF_ANALYZER", str(fake))
    assert find_perf_analyzer() == fake
    with pytest.raises(MeasurementError, match="not an executable"):
        find_perf_analyzer(str(tmp_path / "missing"))
