"""Load-point parsing and LoadSpec validation: what users write -> load points, or a clear error."""

from __future__ import annotations

import pytest

from pytest_triton.errors import ConfigError
from pytest_triton.load.points import (
    doubling,
    judged_latency,
    parse_concurrency,
    parse_request_rate,
    validate_load_spec,
)
from pytest_triton.spec import LoadSpec


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (4, ((4,), False)),
        ("4", ((4,), False)),
        ("1,2,4", ((1, 2, 4), False)),
        (" 1, 8 ", ((1, 8), False)),
        ([1, 4, 8], ((1, 4, 8), False)),
        ((2,), ((2,), False)),
        ("auto", ((), True)),
        ("AUTO", ((), True)),
        ({"auto": True}, ((), True)),
        ({"start": 1, "stop": 8, "step": 3}, ((1, 4, 7), False)),
        ({"start": 2, "stop": 4}, ((2, 3, 4), False)),
        ({"start": 5}, ((5,), False)),
        ("1:8:2", ((1, 3, 5, 7), False)),
        ("2:4", ((2, 3, 4), False)),
        (["2", 4.0], ((2, 4), False)),
    ],
)
def test_concurrency_spellings(value, expected):
    assert parse_concurrency(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "concurrency must be >= 1"),
        ("0,4", "concurrency must be >= 1"),
        ([-1], "concurrency must be >= 1"),
        ({"start": 8, "stop": 1}, "stop 1 is below start 8"),
        ("8:1", "stop 1 is below start 8"),
        ({"start": 1, "stop": 8, "step": 0}, "step 0 must be >= 1"),
        ({"start": 0, "stop": 8}, "start 0 must be >= 1"),
        ({"begin": 1}, "needs 'start'"),
        ("1.5", "not an integer"),
        ("many", "not an integer"),
        ("", "empty concurrency"),
        ([], "empty concurrency"),
        (True, "not a number"),
        (2.5, "of type float"),
        ("1:2:3:4", "start:stop[:step]"),
    ],
)
def test_nonsense_concurrency_is_a_config_error(value, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_concurrency(value)


def test_request_rate_spellings():
    assert parse_request_rate(100) == (100.0,)
    assert parse_request_rate("50, 100") == (50.0, 100.0)
    assert parse_request_rate({"start": 100, "stop": 300, "step": 100}) == (100.0, 200.0, 300.0)
    assert parse_request_rate("10:20:5") == (10.0, 15.0, 20.0)
    with pytest.raises(ConfigError, match="must be > 0"):
        parse_request_rate(0)
    with pytest.raises(ConfigError, match="below start"):
        parse_request_rate({"start": 10, "stop": 5})
    with pytest.raises(ConfigError, match="step 0 must be > 0"):
        parse_request_rate({"start": 1, "stop": 5, "step": 0})


def test_doubling_includes_the_maximum_and_respects_the_hard_limit():
    assert doubling(128) == (1, 2, 4, 8, 16, 32, 64, 128)
    assert doubling(100) == (1, 2, 4, 8, 16, 32, 64, 100)
    assert doubling(1) == (1,)
    assert doubling(10**6)[-1] == 1024


def test_default_spec_is_valid():
    validate_load_spec(LoadSpec())
    validate_load_spec(LoadSpec(concurrency=(), auto=True))
    validate_load_spec(LoadSpec(concurrency=(), request_rate=(100.0,)))
    # the default concurrency (1,) does not count as a conflicting choice
    validate_load_spec(LoadSpec(request_rate=(100.0,), rate_distribution="poisson"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"request_rate": (100.0,), "concurrency": (4,)}, "exclude each other"),
        ({"request_rate": (100.0,), "auto": True}, "exclude each other"),
        ({"request_rate": (0.0,)}, "positive number"),
        ({"concurrency": (0,)}, "integer >= 1"),
        ({"concurrency": ()}, "no concurrency"),
        ({"window_s": 0}, "window_s 0 must be > 0"),
        ({"warmup_s": -1}, "warmup_s"),
        ({"stability_pct": 0}, "stability_pct"),
        ({"max_trials": 2}, "last 3 windows"),
        ({"measured_windows": 2}, "stability needs the last 3"),
        ({"measured_windows": 12}, "max_trials 10 must be >= measured_windows 12"),
        ({"driver": "perf_analyzer", "measured_windows": 6}, "needs the native driver"),
        ({"block_pairs": 6}, "block_pairs 6 must be a multiple of 4"),
        ({"block_pairs": 0}, "block_pairs 0 must be a multiple of 4"),
        ({"batch_size": 0}, "batch_size"),
        ({"protocol": "smtp"}, "protocol"),
        ({"driver": "locust"}, "driver"),
        ({"rate_distribution": "uniform"}, "rate_distribution"),
        ({"window_requests": 0}, "window_requests"),
        ({"stability_latency": "p42"}, "stability_latency"),
        ({"shapes": {"x": (-1, 3)}}, "non-negative"),
        ({"driver": "perf_analyzer", "input_data": "data.npz"}, "perf_analyzer takes input_data"),
    ],
)
def test_invalid_specs_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        validate_load_spec(LoadSpec(**kwargs))


def test_all_problems_are_reported_at_once():
    with pytest.raises(ConfigError) as info:
        validate_load_spec(LoadSpec(window_s=0, batch_size=0))
    assert "window_s" in str(info.value) and "batch_size" in str(info.value)


def test_judged_latency_follows_explicit_choice_then_slo_tail_then_avg():
    assert judged_latency(LoadSpec()) == "avg"
    assert judged_latency(LoadSpec(), {"p50": 5.0, "p99": 10.0}) == "p99"
    assert judged_latency(LoadSpec(), {"p95": 5.0}) == "p95"
    assert judged_latency(LoadSpec(stability_latency="p50"), {"p99": 1.0}) == "p50"


def test_engine_modules_import_nothing_heavy():
    """Loading the plugin (which imports the engine lazily) must not pull in client libraries."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import pytest_triton.load.engine, pytest_triton.load.points\n"
        "import pytest_triton.load.native.driver, pytest_triton.load.native.worker\n"
        "import pytest_triton.load.perf_analyzer, pytest_triton.load.stats\n"
        "import pytest_triton.observe.metrics, pytest_triton.observe.observer\n"
        "heavy = ('numpy', 'tritonclient', 'grpc', 'pynvml', 'hpack', 'google.protobuf')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
