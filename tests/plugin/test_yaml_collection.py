"""Model Analyzer YAML configs collected as tests, before any server starts."""

from __future__ import annotations

import pytest

CONFIG = """\
model_repository: models
export_path: results
profile_models:
  model_1:
    model_config_parameters:
      instance_group:
        - kind: KIND_CPU
          count: [1, 2]
  model_2: {}
"""


def test_a_config_named_on_the_command_line_is_one_test_per_model(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", perf=CONFIG)
    result = pytester.runpytest("perf.yaml", "--collect-only", "-q")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["perf.yaml::model_1", "perf.yaml::model_2", "*2 tests collected*"])
    # Model Analyzer's output settings are named, once
    result.stdout.fnmatch_lines(["*Model Analyzer settings ignored here*: export_path"])


def test_other_yaml_files_are_collected_only_by_pattern(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", perf_resnet=CONFIG, compose="services: {}\n")
    walked = pytester.runpytest("--collect-only", "-q")
    walked.stdout.fnmatch_lines(["*no tests collected*"])
    patterned = pytester.runpytest("--collect-only", "-q", "--triton-yaml=perf*.yaml")
    patterned.stdout.fnmatch_lines(["perf_resnet.yaml::model_1", "*2 tests collected*"])
    # a YAML file named on the command line that is no Model Analyzer config is not a suite
    named = pytester.runpytest("compose.yaml", "--collect-only", "-q")
    named.stdout.fnmatch_lines(["*no tests collected*"])


def test_a_bad_config_is_a_collection_error_at_its_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        perf="profile_models:\n  model_1:\n    model_config_parameters:\n"
        "      max_batch_sizes: [1]\n",
    )
    result = pytester.runpytest("perf.yaml", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ["*perf.yaml:2: profile_models model_1: model 'model_1' space max_batch_sizes: "
         "ModelConfig has no field 'max_batch_sizes'*"]
    )  # fmt: skip
    assert "Traceback" not in result.stdout.str()


def test_a_config_that_contradicts_the_command_line_says_so(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", perf=CONFIG)
    result = pytester.runpytest(
        "perf.yaml", "--collect-only", "-q", "--triton-model-repository=elsewhere"
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ["*perf.yaml: its triton_model_repository *models contradicts the command line or ini "
         "(*elsewhere); drop one of them*"]
    )  # fmt: skip
