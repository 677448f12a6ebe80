"""Docker-mode options and their ini twins reach the ServerSpec (no engine needed)."""

from __future__ import annotations

import pytest

SHOW_SPEC = """
import json
from pytest_triton.plugin.server_factory import server_spec

def test_show(request, tmp_path):
    spec = server_spec(request.config, tmp_path)
    print("SPEC=" + json.dumps({
        "mode": spec.mode, "image": spec.image, "gpus": spec.gpus, "shm": spec.shm_size,
        "mounts": list(spec.mounts), "env": dict(spec.env),
    }))
"""


def _spec_of(result: pytest.RunResult) -> dict[str, object]:
    import json

    # -s prints on the line of the progress dots: take what follows the marker.
    (line,) = [x for x in result.outlines if "SPEC=" in x]
    spec: dict[str, object] = json.loads(line.split("SPEC=", 1)[1])
    return spec


def test_defaults(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SHOW_SPEC)
    result = pytester.runpytest("-s", "--triton-image", "img:1")
    result.assert_outcomes(passed=1)
    spec = _spec_of(result)
    assert spec == {
        "mode": "docker",
        "image": "img:1",
        "gpus": "none",
        "shm": "256m",
        "mounts": [],
        "env": {},
    }


def test_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SHOW_SPEC)
    (pytester.path / "engines").mkdir()
    result = pytester.runpytest(
        "-s",
        "--triton-image=nvcr.io/nvidia/tritonserver:24.08-py3",
        "--triton-gpus=0,1",
        "--triton-shm-size=1g",
        "--triton-mount=engines:/engines:ro",
        "--triton-mount=/tmp:/scratch",
        "--triton-env=OMP_NUM_THREADS=2",
        "--triton-env=OPTS=a=b",
    )
    result.assert_outcomes(passed=1)
    spec = _spec_of(result)
    assert spec["gpus"] == "0,1"
    assert spec["shm"] == "1g"
    assert spec["mounts"] == [f"{pytester.path / 'engines'}:/engines:ro", "/tmp:/scratch"]
    assert spec["env"] == {"OMP_NUM_THREADS": "2", "OPTS": "a=b"}


def test_ini_twins_with_paths_relative_to_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        triton_image = img:2
        triton_gpus = all
        triton_shm_size = 2g
        triton_mount =
            cache:/cache
        triton_env =
            A=1
            B=2
        """
    )
    sub = pytester.mkdir("tests")
    (sub / "test_show.py").write_text(SHOW_SPEC)
    # Run from a subdirectory: ini-relative paths must not follow the working directory.
    result = pytester.runpytest_subprocess(
        "-s", "-p", "no:cacheprovider", "--rootdir", ".", "tests"
    )
    result.assert_outcomes(passed=1)
    spec = _spec_of(result)
    assert spec["image"] == "img:2"
    assert spec["gpus"] == "all"
    assert spec["shm"] == "2g"
    assert spec["mounts"] == [f"{pytester.path / 'cache'}:/cache"]
    assert spec["env"] == {"A": "1", "B": "2"}


def test_command_line_beats_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntriton_image = img:ini\ntriton_gpus = all\n")
    pytester.makepyfile(SHOW_SPEC)
    result = pytester.runpytest("-s", "--triton-gpus", "none")
    spec = _spec_of(result)
    assert (spec["image"], spec["gpus"]) == ("img:ini", "none")


def test_bad_env_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SHOW_SPEC)
    result = pytester.runpytest("-s", "--triton-image", "i", "--triton-env", "NOVALUE")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*--triton-env 'NOVALUE' is not NAME=VALUE*"])


def test_bad_docker_options_fail_before_any_engine_call(pytester: pytest.Pytester) -> None:
    # A bad mount must fail the session's server with the option named, not after a pull.
    (pytester.path / "models").mkdir()
    pytester.makepyfile("def test_x(triton_server):\n    pass\n")
    result = pytester.runpytest(
        "--triton-image=img:1",
        "--triton-model-repository=models",
        "--triton-mount=/nonexistent/x:/x",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*ConfigError: --triton-mount '/nonexistent/x:/x'*does not exist*"]
    )
