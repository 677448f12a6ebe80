"""Remote mode uses a server someone else runs: never starts or stops it, and warns."""

from pathlib import Path

import pytest

from pytest_triton.server.local import LocalServer, bundled_server_root
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


def test_nothing_answering_is_a_clear_error(pytester: pytest.Pytester):
    pytester.makepyfile("def test_x(triton_server):\n    pass\n")
    result = pytester.runpytest("--triton-url=127.0.0.1:9", "--triton-startup-timeout=1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*ServerStartError: tritonserver was not ready on 127.0.0.1:8 within 1s*"]
    )
