"""Tolerance parsing: percentages, 'off', and refusing ambiguous numbers."""

from __future__ import annotations

import pytest

from pytest_triton.errors import ConfigError
from pytest_triton.judge.tolerance import Tolerances, parse_tolerance, parse_tolerances


def test_percent_fraction_and_off() -> None:
    assert parse_tolerance("p50", "10%") == pytest.approx(0.10)
    assert parse_tolerance("p50", 0.1) == pytest.approx(0.10)
    assert parse_tolerance("p50", "0.25") == pytest.approx(0.25)
    assert parse_tolerance("p50", "off") is None
    assert parse_tolerance("p50", None) is None


def test_bare_number_of_one_or_more_is_ambiguous() -> None:
    with pytest.raises(ConfigError, match="ambiguous; write '10%'"):
        parse_tolerance("p50", "10")


def test_ini_string_with_several_metrics() -> None:
    assert parse_tolerances("p50=10%, throughput=5%  p99=off") == {
        "p50": pytest.approx(0.10),
        "throughput": pytest.approx(0.05),
        "p99": None,
    }


def test_unknown_metric_and_missing_value_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="unknown tolerance metric 'p42'"):
        parse_tolerances({"p42": "10%"})
    with pytest.raises(ConfigError, match="expected metric=value"):
        parse_tolerances("p50")


def test_layering_overrides_and_switches_off() -> None:
    base = Tolerances()
    layered = base.with_overrides({"p50": None}).with_overrides({"p95": 0.3})
    gated = layered.gated()
    assert "p50" not in gated and gated["p95"] == pytest.approx(0.3)
    assert "p50" in base.gated() and "p95" not in base.gated()  # the defaults are untouched


def test_tail_latency_is_gated_only_on_request() -> None:
    # and of a token stream, its medians and its rate (rows only a decoupled model's steps have)
    assert set(Tolerances().gated()) == {
        "throughput", "capacity", "p50", "ttft_p50", "itl_p50", "output_tokens_per_s"
    }  # fmt: skip
    assert Tolerances().with_overrides(parse_tolerances("p99=30%")).gated()["p99"] == 0.3


def test_confidence_out_of_range_is_refused() -> None:
    with pytest.raises(ConfigError):
        Tolerances(confidence=1.0)
