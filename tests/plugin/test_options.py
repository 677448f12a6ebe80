"""Options resolve CLI > ini > default, ini paths are relative to the ini file, errors are clear."""

import pytest

PRINT_OPTIONS = """
from pytest_triton.plugin.options import get_option

def test_show(pytestconfig):
    names = ("triton_window", "triton_model_repository", "triton_server_flags", "triton_protocol")
    for name in names:
        print(f"*OPT {name}={get_option(pytestconfig, name)!r}")
"""


def test_defaults_when_nothing_is_set(pytester: pytest.Pytester):
    pytester.makepyfile(PRINT_OPTIONS)
    result = pytester.runpytest("-s")
    result.stdout.fnmatch_lines(
        [
            "*OPT triton_window=2.0",
            "*OPT triton_model_repository=None",
            "*OPT triton_protocol='grpc'",
        ]
    )


def test_ini_overrides_default_and_is_relative_to_the_ini_file(pytester: pytest.Pytester):
    pytester.makeini(
        """
        [pytest]
        triton_window = 3.5
        triton_model_repository = models
        triton_server_flags =
            log-verbose=1
            exit_timeout_secs=5
        """
    )
    pytester.makepyfile(PRINT_OPTIONS)
    elsewhere = pytester.mkdir("elsewhere")
    # Run from another directory: the repository path must still resolve next to the ini file.
    result = pytester.runpytest(
        "-s", "-c", str(pytester.path / "tox.ini"), str(pytester.path), "--rootdir", str(elsewhere)
    )
    result.stdout.fnmatch_lines(
        [
            "*OPT triton_window=3.5",
            f"*OPT triton_model_repository=PosixPath('{pytester.path / 'models'}')",
            "*OPT triton_server_flags=('log-verbose=1', 'exit_timeout_secs=5')",
        ]
    )


def test_command_line_overrides_ini(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\ntriton_window = 3.5\ntriton_protocol = http\n")
    pytester.makepyfile(PRINT_OPTIONS)
    result = pytester.runpytest("-s", "--triton-window=0.5", "--triton-protocol=grpc")
    result.stdout.fnmatch_lines(["*OPT triton_window=0.5", "*OPT triton_protocol='grpc'"])


def test_measured_windows_from_ini_reach_the_load_spec(pytester: pytest.Pytester):
    """The example suite asks for 5 windows per step in its ini; a marker still overrides."""
    pytester.makeini("[pytest]\ntriton_measured_windows = 5\n")
    pytester.makepyfile(
        """
        import pytest
        from pytest_triton.plugin.loadspec import build_load_spec, option_defaults

        def test_ini(pytestconfig):
            assert build_load_spec(option_defaults(pytestconfig)).measured_windows == 5

        def test_marker_wins(pytestconfig):
            spec = build_load_spec(option_defaults(pytestconfig), {"measured_windows": 8})
            assert spec.measured_windows == 8
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_bad_values_are_usage_errors(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\ntriton_window = soon\n")
    pytester.makepyfile(PRINT_OPTIONS)
    result = pytester.runpytest()
    result.stderr.fnmatch_lines(
        ["*--triton-window / ini triton_window: 'soon' is not a valid float*"]
    )


def test_remote_and_docker_modes_exclude_each_other(pytester: pytest.Pytester):
    pytester.makepyfile("def test_x(triton_server):\n    pass\n")
    result = pytester.runpytest("--triton-url=127.0.0.1:1", "--triton-image=img")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--triton-url * and --triton-image * exclude each other*"])


def test_plugin_options_are_documented_in_help(pytester: pytest.Pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*Triton Inference Server performance gate*",
            "*--triton-model-repository=*",
            "*--triton-report-html=*",
        ]
    )
