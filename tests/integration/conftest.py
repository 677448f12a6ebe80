"""Fixtures for integration tests against real servers.

Docker section: tests marked `docker` need a reachable engine and the CPU Triton image built by
scripts/build_cpu_image.sh. Without them they are skipped with the reason, except in CI (the CI
environment variable is set), where a missing engine or image is a failure: those are the tests
that prove docker mode works, and a silent skip would prove nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

DOCKER_TEST_IMAGE = os.environ.get(
    "PYTEST_TRITON_DOCKER_IMAGE", "pytest-triton/tritonserver-cpu:local"
)


def _unavailable(reason: str) -> None:
    """Skip with `reason`, or fail in CI where docker mode must really be tested."""
    if os.environ.get("CI"):
        pytest.fail(f"docker integration tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A client of a live Docker engine (skip, or fail in CI, when there is none)."""
    try:
        import docker
    except ImportError:
        _unavailable("the docker SDK is not installed: pip install 'pytest-triton[docker]'")
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        _unavailable(f"no Docker engine reachable ({exc}); run scripts/provision_docker.sh")
    yield client
    client.close()


@pytest.fixture(scope="session")
def docker_image(docker_client: Any) -> str:
    """The Triton image docker-mode tests run (PYTEST_TRITON_DOCKER_IMAGE overrides it)."""
    import docker

    try:
        docker_client.images.get(DOCKER_TEST_IMAGE)
    except docker.errors.ImageNotFound:
        _unavailable(f"image {DOCKER_TEST_IMAGE} not built; run scripts/build_cpu_image.sh")
    return DOCKER_TEST_IMAGE
