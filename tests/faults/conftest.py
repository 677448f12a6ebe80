"""The fault suite: real servers, real python models that hang, crash or fail, real signals.

Each test runs a whole pytest session in a subprocess, as a user would, and checks what that
user sees and that nothing it started is left running.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faults_support import FAULTY_MODEL, add_model

from pytest_triton.server.bundled import bundled_server_root


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
            if bundled_server_root() is None:
                item.add_marker(pytest.mark.skip(reason="no bundled tritonserver"))


@pytest.fixture
def faulty_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    add_model(repo, "faulty", FAULTY_MODEL)
    return repo
