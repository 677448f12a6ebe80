"""What the integration tests against the bundled tritonserver share: the marks that skip them
where the wheel's server is missing, short measurement settings, and a server on a repository
with its models loaded."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from pytest_triton.server.bundled import bundled_server_root
from pytest_triton.server.local import LocalServer
from pytest_triton.server.models import ModelController
from pytest_triton.spec import ModelSpec, ServerSpec

NEEDS_BUNDLED_SERVER = [
    pytest.mark.integration,
    pytest.mark.skipif(
        bundled_server_root() is None,
        reason="no bundled tritonserver: pip install 'pytest-triton[server]'",
    ),
]

# Short windows keep the suite quick; stability at 25% because CI shares two cores.
QUICK = dict(warmup_s=0.3, window_s=0.5, stability_pct=25.0, max_trials=6, max_window_retries=0)


@contextmanager
def serving(repository: Path, workdir: Path, models: Sequence[str]) -> Iterator[LocalServer]:
    """The bundled server on `repository` with `models` loaded, stopped on exit."""
    with LocalServer(ServerSpec("local", model_repository=repository), workdir) as server:
        controller = ModelController(server.endpoints.http, repository)
        for name in models:
            controller.load(ModelSpec(name))
        yield server
