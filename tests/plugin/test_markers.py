"""Marker misuse is caught at collection, before any server starts, with the valid arguments."""

import pytest


def test_markers_are_documented(pytester: pytest.Pytester):
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.triton_model(name, version=None, config=None*",
            "@pytest.mark.triton_slo(p50_ms*",
            "@pytest.mark.triton_search(space=None, parameters=None, mode='brute'*",
        ]
    )


def test_strict_markers_clean(pytester: pytest.Pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.triton_slo(p99_ms=10)
        @pytest.mark.triton_model("tiny")
        @pytest.mark.triton_load(concurrency=[1, 2])
        def test_x():
            pass
        """
    )
    result = pytester.runpytest("--strict-markers", "--collect-only", "-q")
    result.assert_outcomes()
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*test_x*"])


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("triton_slo(p99=10)", "*@triton_slo got unknown argument(s) p99; valid: p50_ms, p90_ms*"),
        ("triton_slo(p99_ms='fast')", "*@triton_slo p99_ms must be a number, got 'fast'*"),
        ("triton_slo(p99_ms=-1)", "*@triton_slo p99_ms must be positive*"),
        ("triton_slo(10)", "*@triton_slo takes keyword arguments only*"),
        ("triton_slo()", "*@triton_slo needs at least one bound*"),
        ("triton_slo(max_error_rate=5)", "*max_error_rate is a fraction in [[]0, 1]*"),
        ("triton_model()", "*@triton_model needs a model name*"),
        (
            "triton_model('m', colour=1)",
            "*@triton_model got unknown argument(s) colour; valid: name*",
        ),
        ("triton_model('m', version='latest')", "*version must be a positive integer*"),
        ("triton_load(concurency=4)", "*@triton_load got unknown argument(s) concurency*"),
        (
            "triton_model('m', config={'instance_groups': [{'count': 2}]})",
            "*malformed config override*instance_groups*",
        ),
        (
            "triton_model('m', config={'max_batch_size': 'eight'})",
            "*malformed config override*max_batch_size*",
        ),
        (
            "triton_search(space={'instance_group': [{'kind': 'KIND_CPU', 'cout': [1, 2]}]})",
            "*@triton_search space instance_group[[]0[]] cout: ModelInstanceGroup has no field*",
        ),
        (
            "triton_search(space={'max_batch_size': {'start': 8, 'stop': 1}})",
            "*@triton_search space max_batch_size: range stop 1 is below its start 8*",
        ),
        ("triton_search(mode='random')", "*@triton_search mode 'random': use one of brute, quick*"),
        ("triton_search({'max_batch_size': [1]})", "*@triton_search takes keyword arguments only*"),
    ],
)
def test_misuse_is_a_usage_error_naming_the_test(pytester: pytest.Pytester, marker, expected):
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.{marker}
        def test_bad():
            pass

        def test_unrelated():
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*invalid pytest-triton markers:*", "*test_bad*" + expected.lstrip("*")]
    )


def test_every_bad_marker_is_reported_at_once(pytester: pytest.Pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.triton_slo(p99=1)
        def test_a():
            pass

        @pytest.mark.triton_slo(p50=1)
        def test_b():
            pass
        """
    )
    result = pytester.runpytest()
    result.stderr.fnmatch_lines(["*test_a*p99*", "*test_b*p50*"])


def test_a_declared_slo_that_is_never_measured_fails(pytester: pytest.Pytester, example_repository):
    """Nothing silently passes: an SLO with no measurement is a failure, not a green test."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.triton_slo(p99_ms=10)
        def test_forgot_to_measure(triton_server):
            pass
        """
    )
    # The plugin adds the `triton` fixture to marked tests, so this starts the real server.
    result = pytester.runpytest(f"--triton-model-repository={example_repository}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*declares @pytest.mark.triton_slo but never called triton.measure()*"]
    )


def test_a_declared_search_that_never_runs_fails(pytester: pytest.Pytester, example_repository):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.triton_model("tiny")
        @pytest.mark.triton_search(space={"instance_group": [{"count": [1, 2]}]})
        def test_forgot_to_search(triton):
            pass
        """
    )
    result = pytester.runpytest(f"--triton-model-repository={example_repository}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*declares @pytest.mark.triton_search but never called triton.search()*"]
    )


@pytest.mark.parametrize(
    ("load", "expected"),
    [
        ("concurrency={'start': 8, 'stop': 2}", "*test_bad*concurrency*"),
        ("concurrency=0", "*test_bad*concurrency 0*concurrency must be >= 1*"),
        ("concurrency=[1, 2], request_rate=100", "*test_bad*exclude each other*"),
        ("window_s=0", "*test_bad*window_s 0 must be > 0*"),
        ("measured_windows=12", "*test_bad*max_trials 10 must be >= measured_windows 12*"),
        # `(4)` is the number 4: once an INTERNALERROR, now a usage error with a valid example
        ("shapes={'INPUT0': (4)}", "*test_bad*shapes?'INPUT0'? must be a list of dims*got 4*"),
        ("shapes={'INPUT0': [0]}", "*test_bad*must hold positive whole numbers*"),
    ],
)
def test_nonsense_load_settings_fail_at_collection(pytester: pytest.Pytester, load, expected):
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.triton_load({load})
        def test_bad():
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])


def test_a_marker_rate_replaces_an_ini_concurrency(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\ntriton_concurrency = 1,4\n")
    pytester.makepyfile(
        """
        import pytest
        from pytest_triton.plugin.loadspec import build_load_spec, option_defaults

        def test_rate(request):
            marker_kwargs = {"request_rate": "50,100"}
            spec = build_load_spec(option_defaults(request.config), marker_kwargs)
            assert spec.request_rate == (50.0, 100.0)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_a_gpu_memory_objective_without_a_gpu_stops_collection(pytester: pytest.Pytester):
    # NVML is the boundary faked: a pynvml whose library cannot be found, as on a CPU runner
    pytester.makepyfile(
        pynvml="""
        def nvmlInit():
            raise RuntimeError("NVML Shared Library Not Found")
        """
    )
    pytester.makepyfile(
        test_gpu="""
        import pytest

        @pytest.mark.triton_model("tiny")
        @pytest.mark.triton_search(objectives=["gpu_used_memory"])
        def test_x(triton):
            triton.search()
        """
    )
    result = pytester.runpytest("--collect-only", "test_gpu.py")
    result.stderr.fnmatch_lines(
        ["*objective gpu_memory needs GPU memory readings and this machine has none (NVML "
         "unavailable: NVML Shared Library Not Found)*"]
    )  # fmt: skip
