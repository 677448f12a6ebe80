"""Statistics: percentiles, stability (perf_analyzer's rule), plateau (Model Analyzer's rule),
the server-side split from statistics snapshots."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_triton.load.stats import (
    client_overhead_us,
    inference_counters,
    is_stable,
    merge_splits,
    percentile,
    plateaued,
    server_split,
    spread_pct,
    summarize_ns,
    window_sample,
)
from pytest_triton.result import ServerSplit, WindowSample


@settings(deadline=None)  # a shared 2-core machine: time limits would flake
@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=200), st.floats(0, 100))
def test_percentile_matches_numpy_linear(values, q):
    ordered = sorted(values)
    assert percentile(ordered, q) == pytest.approx(np.percentile(ordered, q), rel=1e-9, abs=1e-6)


@settings(deadline=None)
@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=100))
def test_percentiles_are_ordered_and_within_range(values):
    ordered = sorted(values)
    ps = [percentile(ordered, q) for q in (0, 50, 90, 95, 99, 100)]
    assert ps == sorted(ps)
    assert ps[0] == pytest.approx(ordered[0]) and ps[-1] == pytest.approx(ordered[-1])


def test_summary_converts_ns_to_ms():
    s = summarize_ns([1_000_000, 2_000_000, 3_000_000, 4_000_000])
    assert s.count == 4
    assert s.avg_ms == pytest.approx(2.5)
    assert s.p50_ms == pytest.approx(2.5)
    assert s.p99_ms == pytest.approx(3.97)
    empty = summarize_ns([])
    assert empty.count == 0 and math.isnan(empty.p99_ms)


def test_window_sample_counts_inferences_with_batch_size():
    w = window_sample([1_000_000] * 100, errors=2, duration_s=2.0, batch_size=4)
    assert w.requests == 100 and w.errors == 2
    assert w.throughput == pytest.approx(200.0)  # 100 requests * 4 / 2 s


def _w(
    throughput: float, avg: float, p99: float | None = None, requests: int = 100
) -> WindowSample:
    p99 = avg * 2 if p99 is None else p99
    return WindowSample(1.0, requests, 0, throughput, avg, avg, avg, avg, p99)


def test_stability_needs_three_windows_within_the_percentage():
    assert not is_stable([_w(100, 1), _w(100, 1)], 10, "avg")
    assert is_stable([_w(100, 1), _w(105, 1.05), _w(95, 0.95)], 10, "avg")
    # throughput off by more than 10% of the mean
    assert not is_stable([_w(100, 1), _w(100, 1), _w(130, 1)], 10, "avg")
    # latency off
    assert not is_stable([_w(100, 1), _w(100, 1), _w(100, 1.5)], 10, "avg")
    # only the last three count
    assert is_stable([_w(10, 9), _w(100, 1), _w(100, 1), _w(100, 1)], 10, "avg")


def test_stability_judges_the_chosen_latency_statistic():
    windows = [_w(100, 1, p99=5), _w(100, 1, p99=9), _w(100, 1, p99=5)]
    assert is_stable(windows, 10, "avg")
    assert not is_stable(windows, 10, "p99")


def test_a_window_without_completions_is_never_stable():
    assert not is_stable([_w(0, math.nan, requests=0)] * 3, 10, "avg")


def test_spread_pct():
    assert spread_pct([100, 100, 100]) == 0
    assert spread_pct([90, 100, 110]) == pytest.approx(10.0)
    assert spread_pct([0, 0, 0]) == 0
    assert math.isinf(spread_pct([1, math.nan, 1]))


def test_plateau_is_model_analyzers_rule():
    # fewer points than the window: keep going
    assert not plateaued([100, 100, 100], steps=4)
    # 4 points, best gains 4% over the first: plateau
    assert plateaued([50, 100, 104, 103, 102], steps=4, min_gain_pct=5)
    # still gaining
    assert not plateaued([100, 150, 200, 250], steps=4, min_gain_pct=5)
    # a dip and recovery above 5% is a gain
    assert not plateaued([100, 90, 95, 106], steps=4, min_gain_pct=5)
    assert plateaued([0, 0, 0, 0], steps=4)


STATS = {
    "model_stats": [
        {
            "name": "m",
            "version": "1",
            "inference_stats": {
                "success": {"count": 10, "ns": 10_000_000},
                "queue": {"count": 10, "ns": 2_000_000},
                "compute_input": {"count": 10, "ns": 1_000_000},
                "compute_infer": {"count": 10, "ns": 5_000_000},
                "compute_output": {"count": 10, "ns": 1_000_000},
            },
        }
    ]
}


def _advance(stats, requests, success_ns, queue_ns, infer_ns):
    import copy

    out = copy.deepcopy(stats)
    inf = out["model_stats"][0]["inference_stats"]
    inf["success"]["count"] += requests
    inf["success"]["ns"] += success_ns
    inf["queue"]["ns"] += queue_ns
    inf["compute_infer"]["ns"] += infer_ns
    inf["compute_input"]["ns"] += 0
    return out


def test_server_split_is_a_per_request_difference_of_snapshots():
    before = inference_counters(STATS)
    after = inference_counters(_advance(STATS, 100, 500_000_000, 100_000_000, 300_000_000))
    split = server_split(before, after)
    assert split.requests == 100
    assert split.queue_us == pytest.approx(1000.0)
    assert split.compute_infer_us == pytest.approx(3000.0)
    assert split.overhead_us == pytest.approx(1000.0)  # 5000 - 1000 - 3000
    assert split.total_us == pytest.approx(5000.0)
    assert server_split(before, before) == ServerSplit()


def test_inference_counters_filter_by_version():
    two = {
        "model_stats": [dict(STATS["model_stats"][0]), dict(STATS["model_stats"][0], version="2")]
    }
    assert inference_counters(two)["success"] == (20, 20_000_000)
    assert inference_counters(two, "2")["success"] == (10, 10_000_000)


def test_merge_splits_weights_by_requests_and_client_overhead():
    a = ServerSplit(queue_us=100, requests=1)
    b = ServerSplit(queue_us=400, requests=3)
    assert merge_splits([a, b]).queue_us == pytest.approx(325)
    assert client_overhead_us(1.0, ServerSplit(compute_infer_us=600, requests=5)) == pytest.approx(
        400
    )
    assert client_overhead_us(1.0, ServerSplit()) == 0.0
