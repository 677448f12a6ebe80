"""Search spaces in Model Analyzer's syntax: what they sweep, and the errors bad ones get."""

from __future__ import annotations

import pytest

from pytest_triton.search.space import (
    LoadSpace,
    SearchSpaceError,
    expand_config,
    parse_load,
    parse_space,
    range_values,
)


def test_model_analyzers_documented_example_sweeps_eight_configs() -> None:
    # config.md: "[2 x max_batch_size] x [2 x max_queue_delay_microseconds] x [2 x
    # instance_group]"
    configs = expand_config(
        {
            "max_batch_size": [6, 8],
            "dynamic_batching": {"max_queue_delay_microseconds": [200, 300]},
            "instance_group": [{"kind": "KIND_GPU", "count": [1, 2]}],
        }
    )
    assert len(configs) == 8
    # the first field written varies slowest
    assert configs[0] == {
        "max_batch_size": 6,
        "dynamic_batching": {"max_queue_delay_microseconds": 200},
        "instance_group": [{"kind": "KIND_GPU", "count": 1}],
    }
    assert configs[1]["instance_group"] == [{"kind": "KIND_GPU", "count": 2}]
    assert [c["max_batch_size"] for c in configs] == [6] * 4 + [8] * 4


def test_a_field_that_takes_a_list_sweeps_only_a_list_of_lists() -> None:
    # two groups in one config: not a sweep (Model Analyzer's rule)
    (one,) = expand_config(
        {"instance_group": [{"kind": "KIND_GPU", "count": 1}, {"kind": "KIND_CPU", "count": 1}]}
    )
    assert len(one["instance_group"]) == 2
    # a list of such lists: one config each, times the swept delay
    configs = expand_config(
        {
            "dynamic_batching": {"max_queue_delay_microseconds": [200, 400, 600]},
            "instance_group": [
                [{"kind": "KIND_GPU", "count": 1}],
                [{"kind": "KIND_CPU", "count": 1}],
            ],
        }
    )
    assert len(configs) == 6
    assert {c["instance_group"][0]["kind"] for c in configs} == {"KIND_GPU", "KIND_CPU"}
    # a repeated scalar: a list is its value, a list of lists the values to try
    (fixed,) = expand_config({"dynamic_batching": {"preferred_batch_size": [4, 8]}})
    assert fixed["dynamic_batching"]["preferred_batch_size"] == [4, 8]
    swept = expand_config({"dynamic_batching": {"preferred_batch_size": [[4], [4, 8]]}})
    assert [c["dynamic_batching"]["preferred_batch_size"] for c in swept] == [[4], [4, 8]]


def test_ranges_include_their_stop_and_step_defaults_to_one() -> None:
    # config.md: start 2, stop 64, step 8 -> 2, 10, ..., 58, 64
    assert range_values({"start": 2, "stop": 64, "step": 8}, ["x"]) == [
        2, 10, 18, 26, 34, 42, 50, 58, 64,
    ]  # fmt: skip
    assert range_values({"start": 1, "stop": 3}, ["x"]) == [1, 2, 3]
    counts = expand_config({"instance_group": [{"count": {"start": 1, "stop": 4, "step": 2}}]})
    assert [c["instance_group"][0]["count"] for c in counts] == [1, 3, 4]


def test_a_message_field_given_a_list_tries_each_and_maps_take_parameters() -> None:
    configs = expand_config({"dynamic_batching": [{}, {"max_queue_delay_microseconds": 100}]})
    assert [c["dynamic_batching"] for c in configs] == [{}, {"max_queue_delay_microseconds": 100}]
    (env,) = expand_config({"parameters": {"EXECUTION_ENV_PATH": {"string_value": "env.tar.gz"}}})
    assert env["parameters"] == {"EXECUTION_ENV_PATH": {"string_value": "env.tar.gz"}}


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            {"max_batch_sizes": [1, 2]},
            r"max_batch_sizes: ModelConfig has no field 'max_batch_sizes'",
        ),
        (
            {"instance_group": [{"kind": "KIND_CPU", "cout": 2}]},
            r"instance_group\[0\] cout: ModelInstanceGroup has no field 'cout'",
        ),
        ({"instance_group": [{"kind": "KIND_TPU"}]}, r"'KIND_TPU' is not one of KIND_AUTO"),
        ({"max_batch_size": {"start": 8, "stop": 1}}, r"range stop 1 is below its start 8"),
        ({"max_batch_size": {"start": 1, "stop": 8, "step": 0}}, r"range step must be > 0"),
        ({"max_batch_size": {"begin": 1, "stop": 8}}, r"a range needs start and stop"),
        ({"max_batch_size": []}, r"max_batch_size: an empty list leaves nothing to try"),
        ({"max_batch_size": [1, "eight"]}, r"expected a whole number, got 'eight'"),
        (
            {"dynamic_batching": 5},
            r"dynamic_batching: expected a mapping of ModelDynamicBatching fields, got int 5",
        ),
        ({"instance_group": [{"count": {"start": 1, "stop": 20000}}]}, r"range of 20000 values"),
        (
            {"max_batch_size": [1, 2, 4, 8], "instance_group": [{"count": list(range(1, 3000))}]},
            r"11996 configs to search, more than 10000",
        ),
    ],
)
def test_bad_spaces_name_the_field_and_the_fix(space: dict[str, object], message: str) -> None:
    with pytest.raises(SearchSpaceError, match=message):
        expand_config(space, "perf.yaml model_1")


def test_load_parameters_take_lists_comma_lists_and_ranges() -> None:
    load = parse_load({"concurrency": {"start": 2, "stop": 64, "step": 8}, "batch_sizes": "1,2,3"})
    assert load.concurrency == (2, 10, 18, 26, 34, 42, 50, 58, 64)
    assert load.batch_sizes == (1, 2, 3)
    assert parse_load({"request_rate": [50, 100.5]}).request_rate == (50.0, 100.5)
    with pytest.raises(SearchSpaceError, match="concurrency and request_rate exclude"):
        parse_load({"concurrency": [1], "request_rate": [10]})
    with pytest.raises(SearchSpaceError, match=r"concurrency: 1.5 is not a positive whole"):
        parse_load({"concurrency": [1.5]})
    with pytest.raises(SearchSpaceError, match="unknown key.*latency_budget"):
        parse_load({"latency_budget": 10})
    with pytest.raises(SearchSpaceError, match="not a comma-delimited list"):
        parse_load({"batch_sizes": "1,two"})


def test_a_space_without_config_parameters_is_the_models_own_config() -> None:
    space = parse_space(None, {"concurrency": [1, 2]})
    assert space.configs == ({},) and space.load == LoadSpace(concurrency=(1, 2))
