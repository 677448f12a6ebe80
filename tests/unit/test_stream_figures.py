"""A decoupled model's figures without a server: each request's responses timed into TTFT, ITL
and tokens, pooled into a step, judged against stream SLO bounds, and stored and read back."""

from __future__ import annotations

import math

import pytest

from pytest_triton.baseline import codec
from pytest_triton.errors import ConfigError
from pytest_triton.judge.slo import check_slo
from pytest_triton.load.inputs import ModelIO
from pytest_triton.load.model_kind import use_streaming
from pytest_triton.load.native.windows import WindowAccumulator
from pytest_triton.load.stats import stream_stats, window_sample
from pytest_triton.load.step import LoadPoint, RawWindow, StepSettings, build_step
from pytest_triton.result import Measurement, metric_value
from pytest_triton.spec import SLO, LoadSpec

MS = 1_000_000


def _request(window: WindowAccumulator, sent_ms: float, first_ms: float, gap_ms: float, n: int):
    """A request sent at `sent_ms` whose n responses arrive from `first_ms`, `gap_ms` apart."""
    times = [int((first_ms + i * gap_ms) * MS) for i in range(n)]
    window.answered(times[-1] if times else int(first_ms * MS), int(sent_ms * MS), None, times)


def test_each_request_gives_its_time_to_first_token_and_its_mean_gap_between_tokens() -> None:
    window = WindowAccumulator(0, 10_000 * MS, None, 0)
    _request(window, 0, 40, 10, 5)  # TTFT 40 ms, ITL 10 ms, 5 tokens, e2e 80 ms
    _request(window, 100, 160, 20, 3)  # TTFT 60 ms, ITL 20 ms
    _request(window, 200, 230, 0, 1)  # one token: a TTFT but no gap
    window.answered(300 * MS, 290 * MS, "grpc-status 13: boom", [295 * MS])  # failed: not counted
    record = window.close(1_000 * MS, in_flight=0)
    assert [t / MS for t in record.ttft] == [40, 60, 30]
    assert [t / MS for t in record.itl] == [10, 20]
    assert record.tokens == 9 and record.errors == 1
    assert [x / MS for x in record.latencies] == [80, 100, 30]


def _window(ttft_ms: list[float], itl_ms: list[float], tokens: int, requests: int) -> RawWindow:
    ttft = [int(t * MS) for t in ttft_ms]
    itl = [int(t * MS) for t in itl_ms]
    latencies = [int((t + 50) * MS) for t in ttft_ms]
    stream = stream_stats(ttft, itl, tokens, requests, 1.0)
    sample = window_sample(latencies, 0, 1.0, stream=stream)
    return RawWindow(sample, latencies, 0.1, False, {}, (), ttft, itl)


def test_a_step_pools_its_windows_and_is_judged_on_stream_bounds() -> None:
    windows = [_window([10.0, 30.0], [5.0, 7.0], 20, 2) for _ in range(3)]
    settings = StepSettings.from_load(LoadSpec(), None)
    step = build_step(LoadPoint(concurrency=2), windows, True, settings)
    assert step.stream is not None
    assert step.stream.ttft_p50_ms == pytest.approx(20.0)
    assert step.stream.itl_avg_ms == pytest.approx(6.0)
    assert step.stream.output_tokens_per_s == pytest.approx(20.0)  # 60 tokens in 3 s
    assert step.stream.tokens_per_request == pytest.approx(10.0)
    assert metric_value(step, "ttft_p99") == pytest.approx(30.0)
    measurement = Measurement("llm", None, (step,), 3.0)
    met = check_slo(measurement, SLO(ttft_p99_ms=50, itl_p50_ms=10, min_output_tokens_per_s=15))
    assert met.passed, met.render()
    missed = check_slo(measurement, SLO(ttft_p99_ms=25, min_output_tokens_per_s=30))
    assert [r.passed for r in missed.rows] == [False, False]
    text = missed.render()
    assert "p99 TTFT" in text and "30.00ms" in text and "min tokens/s" in text


def test_stream_figures_are_stored_and_read_back_and_other_models_files_do_not_change() -> None:
    windows = [_window([10.0, 30.0], [5.0], 3, 2) for _ in range(3)]
    settings = StepSettings.from_load(LoadSpec(), None)
    step = build_step(LoadPoint(concurrency=2), windows, True, settings)
    data = codec.step_to_dict(step)
    back = codec.step_from(data)
    assert back.stream is not None and step.stream is not None
    assert back.stream.ttft_p50_ms == pytest.approx(step.stream.ttft_p50_ms)
    assert back.windows[0].stream is not None and back.windows[0].stream.tokens == 3
    one_token = build_step(
        LoadPoint(concurrency=1), [_window([10.0], [], 1, 1)] * 3, True, settings
    )
    stored = codec.step_from(codec.step_to_dict(one_token)).stream
    assert stored is not None and math.isnan(stored.itl_p50_ms)  # no gap: NaN, not 0
    unary = build_step(
        LoadPoint(concurrency=1),
        [RawWindow(window_sample([MS], 0, 1.0), [MS], 0.1, False, {})] * 3,
        True,
        settings,
    )
    data = codec.step_to_dict(unary)
    assert "stream" not in data and all("stream" not in w for w in data["windows"])


def _io(decoupled: bool) -> ModelIO:
    return ModelIO("llm", None, 0, (), (), decoupled=decoupled)


def test_a_decoupled_model_streams_and_a_mismatch_is_refused_before_any_load() -> None:
    assert use_streaming(_io(True), LoadSpec()) is True
    assert use_streaming(_io(False), LoadSpec()) is False
    with pytest.raises(ConfigError, match="is decoupled .*drop streaming=False"):
        use_streaming(_io(True), LoadSpec(streaming=False))
    with pytest.raises(ConfigError, match="not decoupled: it answers each request once"):
        use_streaming(_io(False), LoadSpec(streaming=True))
    with pytest.raises(ConfigError, match="use protocol='grpc'"):
        use_streaming(_io(True), LoadSpec(protocol="http"))
