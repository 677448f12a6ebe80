"""Fixtures: one Triton server per session, a model cache, and the per-test `triton` handle."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_triton.errors import TritonTestError

from .options import get_option
from .state import SESSION_KEY, SPECS_KEY, STATE_KEY

if TYPE_CHECKING:
    from pytest_triton.load.step_lock import StepLock

    # The core is imported when a triton fixture runs, not when pytest loads the plugin: a
    # suite without triton tests pays nothing for it.
    from pytest_triton.result import StepResult
    from pytest_triton.server.base import Server
    from pytest_triton.spec import ServerSpec

    from .handle import Triton
    from .models_cache import ModelCache


class TritonRemoteWarning(UserWarning):
    """Measuring a server whose other load pytest-triton cannot control."""


@pytest.fixture(scope="session")
def triton_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The session's Triton server: started once, stopped at session end."""
    from .server_factory import make_server, server_spec
    from .stopping import install_interrupt

    workdir = tmp_path_factory.mktemp("triton")
    install_interrupt(request.config)  # from here Ctrl-C and SIGTERM stop the session in order
    failure = None
    try:
        spec = server_spec(request.config, workdir)
        server = make_server(request.config, spec, workdir)
        if not server.managed:
            from pytest_triton.server.remote import UNCONTROLLED_LOAD_WARNING

            warnings.warn(TritonRemoteWarning(UNCONTROLLED_LOAD_WARNING), stacklevel=1)
        server.start()
        request.config.stash[STATE_KEY].server = server.identity()
        request.config.stash[GPUS_KEY] = nvml_selection(spec)
    except TritonTestError as exc:
        failure = f"{type(exc).__name__}: {exc}"
    if failure is not None:
        # Outside the except block: the message alone, not chained to our own traceback.
        pytest.fail(failure, pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def triton_models(request: pytest.FixtureRequest, triton_server: Server) -> Iterator[ModelCache]:
    """Loaded models of the session, reused across tests with the same config override."""
    from pytest_triton.server.models import ModelController

    from .models_cache import ModelCache

    repository = get_option(request.config, "triton_model_repository")
    cache = ModelCache(ModelController(triton_server.endpoints.http, repository, triton_server))
    yield cache
    if triton_server.is_alive() and triton_server.managed:
        cache.unload_all()


@pytest.fixture
def triton(
    request: pytest.FixtureRequest, triton_server: Server, triton_models: ModelCache
) -> Triton:
    """Load the @triton_model model and measure it: `triton.measure()` -> Measurement."""
    from .handle import Triton
    from .loadspec import option_defaults

    item = request.node
    specs = item.stash.get(SPECS_KEY, None)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")

    capture = request.config.pluginmanager.get_plugin("capturemanager")
    bsession = request.config.stash.get(SESSION_KEY, None)

    def say(line: str) -> None:
        if reporter is None:
            return
        if capture is None:
            reporter.write_line(line)
            return
        # Live in the terminal while the test runs, not held back in its captured output.
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    def progress(step: StepResult) -> None:
        from pytest_triton.load.progress import step_line

        say(f"  [triton] {item.name} {step_line(step)}")

    handle = Triton(
        item,
        triton_server,
        triton_models,
        model=specs.model if specs else None,
        slo=specs.slo if specs else None,
        load_layers=(option_defaults(request.config), specs.load_overrides if specs else {}),
        progress=progress,
        build=bsession.build if bsession is not None else None,
        search=specs.search if specs else None,
        say=say,
        step_lock=xdist_step_lock(request.config),
        gpus=request.config.stash.get(GPUS_KEY, "all"),
    )
    failure = None
    try:
        handle.prepare()
    except TritonTestError as exc:
        failure = f"{type(exc).__name__}: {exc}"
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    item.stash[HANDLE_KEY] = handle
    return handle


HANDLE_KEY = pytest.StashKey["Triton"]()
# The GPUs the session's server uses, as NVML should read them (nvml_selection).
GPUS_KEY = pytest.StashKey[str]()


def nvml_selection(spec: ServerSpec) -> str:
    """Which GPUs a measurement's NVML readings are of: a container's own devices, a local
    server's CUDA_VISIBLE_DEVICES (a pytest-xdist worker's share), else all of them."""
    if spec.mode == "docker":
        return spec.gpus
    if spec.mode == "local":
        return str(spec.env.get("CUDA_VISIBLE_DEVICES", "all"))
    return "all"


def xdist_step_lock(config: pytest.Config) -> StepLock | None:
    """Under pytest-xdist, the lock the workers of this run take turns with for each step
    (load/step_lock.py); None outside xdist or with --triton-xdist-parallel."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None or get_option(config, "triton_xdist_parallel"):
        return None
    import tempfile

    from pytest_triton.load.step_lock import StepLock

    run = workerinput.get("testrunuid", "run")
    return StepLock(Path(tempfile.gettempdir()) / f"pytest-triton-steps-{run}.lock")
