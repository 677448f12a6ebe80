"""Model Analyzer YAML configs read as suites: what each key becomes, and errors with lines."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_triton.yaml_suite.config import YamlSuiteError, holds_profile_models, read_suite


def _suite(tmp_path: Path, text: str, name: str = "perf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_model_analyzers_documented_config_becomes_one_search_per_model(tmp_path: Path) -> None:
    # config.md's complete example, plus global constraints and objectives
    path = _suite(
        tmp_path,
        """
        model_repository: models
        run_config_search_mode: quick
        run_config_search_max_instance_count: 3
        constraints:
          perf_latency_p99:
            max: 50
        objectives:
          - perf_throughput
        profile_models:
          model_1:
            model_config_parameters:
              max_batch_size: [6, 8]
              dynamic_batching:
                max_queue_delay_microseconds: [200, 300]
              instance_group:
                - kind: KIND_GPU
                  count: [1, 2]
            parameters:
              concurrency:
                start: 2
                stop: 64
                step: 8
              batch_sizes: 1,2,3
            constraints:
              perf_throughput:
                min: 100
            perf_analyzer_flags:
              shape: INPUT0:1,16
          model_2:
            cpu_only: true
        export_path: profile_results
        """,
    )
    suite = read_suite(path)
    assert [m.name for m in suite.models] == ["model_1", "model_2"]
    one, two = suite.models
    assert one.line == 11 and two.line == 30
    assert one.slo == {"p99_ms": 50.0, "min_throughput": 100.0}
    assert one.search["mode"] == "quick" and one.search["max_instance_count"] == 3
    assert one.search["space"]["max_batch_size"] == [6, 8]
    assert one.search["parameters"]["batch_sizes"] == "1,2,3"
    assert one.load == {"shapes": {"INPUT0": [1, 16]}}
    assert two.search["instance_kind"] == "KIND_CPU" and "space" not in two.search
    assert two.slo == {"p99_ms": 50.0}
    assert suite.session == {"triton_model_repository": tmp_path / "models"}
    assert suite.ignored == ("export_path",)


def test_profile_models_as_a_list_or_a_string_and_server_settings(tmp_path: Path) -> None:
    path = _suite(
        tmp_path,
        """
        profile_models: resnet, bert
        latency_budget: 20
        min_throughput: 300
        run_config_search_min_concurrency: 4
        run_config_search_max_concurrency: 32
        triton_launch_mode: remote
        triton_grpc_endpoint: localhost:8001
        triton_server_flags:
          log_verbose: true
          exit_timeout_secs: 5
        """,
    )
    suite = read_suite(path)
    assert [m.name for m in suite.models] == ["resnet", "bert"]
    assert suite.models[0].slo == {"p99_ms": 20.0, "min_throughput": 300.0}
    assert suite.models[0].load == {"max_concurrency": 32, "concurrency": [4, 8, 16, 32]}
    assert suite.session == {
        "triton_url": "localhost:8001",
        "triton_server_flags": ("log-verbose=true", "exit-timeout-secs=5"),
    }
    listed = _suite(tmp_path, "profile_models:\n  - a\n  - b:\n      cpu_only: true\n", "l.yaml")
    assert [m.name for m in read_suite(listed).models] == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", r"perf.yaml: a Model Analyzer config is a mapping"),
        ("profile_models: [a\n", r"perf.yaml:2: not valid YAML"),
        ("model_repository: m\n", r"perf.yaml: no profile_models"),
        (
            "profile_models: a\nprofile_model: b\n",
            r"perf.yaml:2: profile_model: unsupported key\(s\) profile_model",
        ),
        (
            "profile_models:\n  a:\n    model_config_parameters:\n      max_batch_sizes: [1]\n",
            r"perf.yaml:2: profile_models a: model 'a' space max_batch_sizes: ModelConfig has no "
            r"field 'max_batch_sizes'",
        ),
        (
            "profile_models: a\nconstraints:\n  perf_latency_p99:\n    min: 10\n",
            r"perf.yaml:3: constraints perf_latency_p99: perf_latency_p99 takes \{max: <number>\}",
        ),
        (
            "profile_models: a\nconstraints:\n  perf_latency_p42:\n    max: 10\n",
            r"perf.yaml:3: .*unknown constraint 'perf_latency_p42'",
        ),
        (
            "profile_models: a\nlatency_budget: fast\n",
            r"perf.yaml:2: latency_budget: expected a positive",
        ),
        ("profile_models: a\ntriton_launch_mode: c_api\n", r"'c_api' is not supported"),
        (
            "profile_models: a\ntriton_launch_mode: docker\n",
            r"docker mode needs triton_docker_image",
        ),
        (
            "profile_models:\n  a:\n    perf_analyzer_flags:\n      percentile: 95\n",
            r"perf.yaml:4: .*perf_analyzer flag 'percentile' is not supported",
        ),
        (
            "profile_models:\n  a:\n    perf_analyzer_flags:\n      shape: INPUT0\n",
            r"shape 'INPUT0' is not NAME:d1,d2",
        ),
        (
            "profile_models:\n  a:\n    model_config_parameters:\n      max_batch_size:\n"
            "        start: 8\n        stop: 1\n",
            r"range stop 1 is below its start 8",
        ),
    ],
)
def test_bad_configs_name_the_file_the_line_and_the_fix(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(YamlSuiteError, match=message):
        read_suite(_suite(tmp_path, text))


def test_only_a_mapping_with_profile_models_looks_like_a_model_analyzer_config(
    tmp_path: Path,
) -> None:
    assert holds_profile_models(_suite(tmp_path, "profile_models: a\n"))
    assert not holds_profile_models(_suite(tmp_path, "services: {}\n", "compose.yaml"))
    assert not holds_profile_models(_suite(tmp_path, "[broken\n", "broken.yaml"))
