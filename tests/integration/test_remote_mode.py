"""Remote mode uses a server someone else runs: never starts or stops it, and warns."""

import time
from pathlib import Path

import pytest

from pytest_triton.server.bundled import bundled_server_root
from pytest_triton.server.local import LocalServer
from pytest_triton.server.readiness import http_probe
from pytest_triton.spec import ServerSpec

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bundled_server_root() is None, reason="no bundled tritonserver"),
]


def test_remote_server_is_used_and_left_running(
    pytester: pytest.Pytester, example_repository: Path, tmp_path: Path
):
    with LocalServer(ServerSpec("local", model_repository=example_repository), tmp_path) as server:
        pytester.makepyfile(
            """
            def test_uses_it(triton_server):
                assert not triton_server.managed
                assert triton_server.identity().kind == "remote"
            """
        )
        result = pytester.runpytest(
            f"--triton-url={server.endpoints.grpc}", f"--triton-http-url={server.endpoints.http}"
        )
        result.assert_outcomes(passed=1, warnings=1)
        result.stdout.fnmatch_lines(["*TritonRemoteWarning*does not control*"])
        assert server.is_alive() and http_probe(server.endpoints.http).ready


def test_nothing_answering_is_a_clear_error_within_seconds(pytester: pytest.Pytester):
    """Once it waited the 120 s startup timeout for a refused address."""
    pytester.makepyfile("def test_x(triton_server):\n    pass\n")
    started = time.monotonic()
    result = pytester.runpytest("--triton-url=127.0.0.1:9")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*ServerStartError: nothing is listening at 127.0.0.1:9, from --triton-url "
         "127.0.0.1:9 (gRPC): connection refused*"]
    )  # fmt: skip
    assert time.monotonic() - started < 60


def test_an_impossible_derived_http_port_is_a_usage_error(pytester: pytest.Pytester):
    """--triton-url 127.0.0.1:1 once waited 120 s and then named port 0."""
    pytester.makepyfile("def test_x(triton_server):\n    pass\n")
    result = pytester.runpytest("--triton-url=127.0.0.1:1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*--triton-url 127.0.0.1:1: the HTTP endpoint defaults to the gRPC port minus 1, "
         "which is 0; give it with --triton-http-url host:port*"]
    )  # fmt: skip
