"""System shared memory against the real bundled tritonserver: tensors through registered
regions while measuring, and nothing left registered or on /dev/shm afterwards, also when the
measurement fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bundled_support import NEEDS_BUNDLED_SERVER, QUICK, serving

from pytest_triton import triton_http
from pytest_triton.errors import ConfigError
from pytest_triton.load.engine import measure
from pytest_triton.result import StepResult
from pytest_triton.server.base import Endpoints
from pytest_triton.server.local import LocalServer
from pytest_triton.spec import LoadSpec

pytestmark = NEEDS_BUNDLED_SERVER


@pytest.fixture(scope="module")
def server(
    example_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalServer]:
    with serving(example_repository, tmp_path_factory.mktemp("shm-server"), ("tiny",)) as srv:
        yield srv


def _regions(server: LocalServer) -> list[str]:
    status = triton_http.call(server.endpoints.http, "GET", "/v2/systemsharedmemory/status")
    return [r["name"] for r in status]


def _ours_on_dev_shm() -> list[str]:
    return [p.name for p in Path("/dev/shm").iterdir() if p.name.startswith("psm_")]


def test_tensors_go_through_registered_regions_that_are_gone_afterwards(
    server: LocalServer,
) -> None:
    before = set(_ours_on_dev_shm())
    seen: list[list[str]] = []

    def during(step: StepResult) -> None:
        seen.append(_regions(server))

    m = measure(
        server.endpoints, "tiny", None,
        LoadSpec(concurrency=(1, 4), shared_memory="system", **QUICK),
        is_alive=server.is_alive, progress=during,
    )  # fmt: skip
    for step in m.steps:
        assert step.errors == 0 and step.requests > 0
    # registered while it measured: one input region and one for the output
    assert seen and all(len(names) == 2 for names in seen), seen
    assert all(n.startswith("pytest_triton_") for names in seen for n in names)
    assert _regions(server) == []
    assert set(_ours_on_dev_shm()) == before


def test_a_failed_measurement_leaves_no_region_behind(server: LocalServer) -> None:
    before = set(_ours_on_dev_shm())
    # refused once its regions exist: streaming a model that is not decoupled
    with pytest.raises(ConfigError, match="not decoupled"):
        measure(
            server.endpoints, "tiny", None,
            LoadSpec(shared_memory="system", streaming=True, **QUICK),
        )  # fmt: skip
    assert _regions(server) == []
    assert set(_ours_on_dev_shm()) == before


def test_a_server_on_another_host_is_refused_before_load() -> None:
    elsewhere = Endpoints(grpc="10.0.0.7:8001", http="10.0.0.7:8000")
    with pytest.raises(ConfigError, match="needs Triton on this machine, but it answers at"):
        measure(elsewhere, "tiny", None, LoadSpec(shared_memory="system", **QUICK))
