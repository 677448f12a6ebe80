"""The bundled tritonserver, started for real: lifecycle, identity, errors, no orphans."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from pytest_triton.errors import ConfigError, ModelLoadError, ServerNotFoundError
from pytest_triton.server import local as local_module
from pytest_triton.server import ports as ports_module
from pytest_triton.server.bundled import bundled_server_root
from pytest_triton.server.local import LocalServer
from pytest_triton.server.models import ModelController
from pytest_triton.server.readiness import http_probe
from pytest_triton.spec import ModelSpec, ServerSpec

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        bundled_server_root() is None,
        reason="no bundled tritonserver: pip install 'pytest-triton[server]'",
    ),
]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_start_serve_stop(example_repository: Path, tmp_path: Path):
    server = LocalServer(ServerSpec("local", model_repository=example_repository), tmp_path)
    with server:
        pid = server.pid
        assert pid is not None and pid_alive(pid)
        assert server.endpoints.http.startswith("127.0.0.1:")
        ports = {e.rsplit(":", 1)[1] for e in (server.endpoints.http, server.endpoints.grpc)}
        assert not ports & {"8000", "8001", "8002"}
        identity = server.identity()
        assert identity.version.count(".") == 2 and len(identity.digest) == 64
        assert http_probe(server.endpoints.http).ready
    assert not pid_alive(pid)
    assert "Started GRPCInferenceService" in (tmp_path / "tritonserver.log").read_text()
    server.stop()  # idempotent


def test_loading_without_an_override_serves_the_repository_config_again(
    example_repository: Path, tmp_path: Path
):
    # Triton keeps a model's last config override on a load request without one (its files
    # did not change): a test of the committed config after one of an override measured the
    # override, and a search named the last config it tried "as committed".
    server = LocalServer(ServerSpec("local", model_repository=example_repository), tmp_path)
    with server:
        controller = ModelController(server.endpoints.http, example_repository, server)
        two = {"instance_group": [{"kind": "KIND_CPU", "count": 2}]}
        assert controller.load(ModelSpec("tiny", config=two))["instance_group"][0]["count"] == 2
        assert controller.load(ModelSpec("tiny"))["instance_group"][0]["count"] == 1


def test_a_fixed_port_in_use_is_a_clear_error(example_repository: Path, tmp_path: Path):
    with LocalServer(ServerSpec("local", model_repository=example_repository), tmp_path / "a") as a:
        http = int(a.endpoints.http.rsplit(":", 1)[1])
        other = LocalServer(
            ServerSpec("local", model_repository=example_repository),
            tmp_path / "b",
            fixed_ports=(http, http + 1, http + 2),
        )
        with pytest.raises(ConfigError, match=f"port {http} .* already in use.*--triton-ports"):
            other.start()


def test_missing_repository_and_binary_are_clear_errors(tmp_path: Path, example_repository: Path):
    with pytest.raises(ConfigError, match="does not exist.*--triton-model-repository"):
        LocalServer(ServerSpec("local", model_repository=tmp_path / "nope"), tmp_path)
    with pytest.raises(ServerNotFoundError, match=r"pytest-triton\[server\]"):
        LocalServer(
            ServerSpec("local", model_repository=example_repository, server_path=tmp_path / "ts"),
            tmp_path,
        )


def test_naming_the_python_backends_regions_is_refused(tmp_path: Path, example_repository: Path):
    """The plugin names them so it can find them after a killed server."""
    flags = {"backend_config": "python,shm-region-prefix-name=mine_"}
    with pytest.raises(ConfigError, match="shm-region-prefix-name.*drop that setting"):
        LocalServer(ServerSpec("local", model_repository=example_repository, flags=flags), tmp_path)


def test_a_server_path_that_is_not_a_program_is_a_clear_error(
    tmp_path: Path, example_repository: Path
):
    """An executable file that is not a program once gave a 209-line traceback."""
    script = tmp_path / "tritonserver"
    script.write_text("this is not a program\n")
    script.chmod(0o755)
    server = LocalServer(
        ServerSpec("local", model_repository=example_repository, server_path=script), tmp_path
    )
    with pytest.raises(ServerNotFoundError, match=r"cannot be run: Exec format error; no trit"):
        server.start()
    assert not server.is_alive()


def test_a_port_taken_between_picking_and_binding_is_picked_again(
    tmp_path: Path, example_repository: Path, monkeypatch: pytest.MonkeyPatch
):
    """Another process can take a picked port before Triton binds it; Triton then exits."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    picks: list[list[int]] = []

    def pick(count: int) -> list[int]:
        ports = ports_module.free_ports(count)
        if not picks:
            ports[0] = taken.getsockname()[1]  # the HTTP port, taken by the time Triton binds
        picks.append(ports)
        return ports

    monkeypatch.setattr(local_module, "free_ports", pick)
    try:
        with LocalServer(ServerSpec("local", model_repository=example_repository), tmp_path) as s:
            assert len(picks) == 2 and s.endpoints.http == f"127.0.0.1:{picks[1][0]}"
    finally:
        taken.close()


BROKEN_CONFIG = 'backend: "python"\nmax_batch_size: 0\n'


def _model(repo: Path, name: str, body: str) -> None:
    (repo / name / "1").mkdir(parents=True)
    (repo / name / "config.pbtxt").write_text(BROKEN_CONFIG)
    (repo / name / "1" / "model.py").write_text(textwrap.dedent(body))


def test_load_failures_quote_triton_and_hangs_time_out(tmp_path: Path):
    repo = tmp_path / "repo"
    _model(repo, "raises", "raise RuntimeError('model file is broken on purpose')\n")
    _model(
        repo,
        "hangs",
        """
        import time
        class TritonPythonModel:
            def initialize(self, args):
                time.sleep(3600)
        """,
    )
    # A short exit timeout: Triton would otherwise wait 30 s at stop for the hung model.
    spec = ServerSpec("local", model_repository=repo, flags={"exit-timeout-secs": "2"})
    with LocalServer(spec, tmp_path / "srv") as server:
        models = ModelController(server.endpoints.http, repo, server)
        with pytest.raises(ModelLoadError, match="broken on purpose"):
            models.load(ModelSpec("raises"))
        with pytest.raises(ModelLoadError, match="not in the model repository .* hangs, raises"):
            models.load(ModelSpec("absent"))
        started = time.monotonic()
        with pytest.raises(ModelLoadError, match="did not finish loading within 3s"):
            models.load(ModelSpec("hangs", load_timeout_s=3))
        assert time.monotonic() - started < 20


# A model that starts a helper process, as models that run an engine or a tokenizer server
# beside them do: it stays in the server's process group, and nothing ends it when the server
# dies with pytest. (A stub itself can stay the same way: one whose server died while it was
# starting waited for it forever, re-parented to init; seen in CI, not reproducible on demand.)
HELPER_MODEL = """
import subprocess
import sys
from pathlib import Path


class TritonPythonModel:
    def initialize(self, args):
        here = str(Path(__file__).parent)
        self.helper = subprocess.Popen(["python3", "-c", "import time; time.sleep(600)", here])

    def execute(self, requests):
        return []
"""

# A model whose request never ends, and whose stub therefore outlasts the server's exit timeout.
HUNG_MODEL = """
import time


class TritonPythonModel:
    def execute(self, requests):
        time.sleep(600)
"""


def _processes_of(repo: Path) -> dict[int, list[str]]:
    """Live processes whose arguments name a model of `repo` (stubs, and helpers that say so):
    pid -> argv."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if any(arg.startswith(str(repo)) for arg in argv) and pid_alive(int(entry.name)):
            found[int(entry.name)] = argv
    return found


def _stub_regions(processes: dict[int, list[str]]) -> list[Path]:
    """The shared-memory regions of the python stubs among `processes` (a stub's 2nd argument)."""
    return [
        Path("/dev/shm") / argv[2]
        for argv in processes.values()
        if argv[0].endswith("triton_python_backend_stub")
    ]


def _model_repo(root: Path, example_repository: Path, name: str, code: str) -> Path:
    repo = root / "repo"
    model = shutil.copytree(example_repository / "tiny", repo / name)
    shutil.rmtree(model / "1" / "__pycache__", ignore_errors=True)
    (model / "1" / "model.py").write_text(code)
    return repo


def _ignoring_errors(request: urllib.request.Request) -> None:
    with contextlib.suppress(OSError):
        urllib.request.urlopen(request, timeout=30).close()


def test_a_stopped_server_leaves_no_shared_memory_behind_a_hung_stub(
    example_repository: Path, tmp_path: Path
):
    """The stub of a hung request outlasts the server's exit timeout and is SIGKILLed: its
    region is then ours to remove (/dev/shm is memory; 64 MiB in a default container)."""
    repo = _model_repo(tmp_path, example_repository, "hung", HUNG_MODEL)
    spec = ServerSpec("local", model_repository=repo, flags={"exit-timeout-secs": "1"})
    with LocalServer(spec, tmp_path / "srv") as server:
        ModelController(server.endpoints.http, repo, server).load(ModelSpec("hung"))
        body = {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 16],
                            "data": [0.0] * 16}]}  # fmt: skip
        request = urllib.request.Request(
            f"http://{server.endpoints.http}/v2/models/hung/infer", json.dumps(body).encode()
        )
        # never answered: it ends with an error when the server stops
        threading.Thread(target=_ignoring_errors, args=(request,), daemon=True).start()
        time.sleep(1.0)  # the request reaches the stub
        regions = _stub_regions(_processes_of(repo))
        assert regions and all(region.exists() for region in regions)
    assert not _processes_of(repo)
    assert not [r.name for r in regions if r.exists()], "the hung stub's region was left"


def test_nothing_of_the_server_outlives_a_killed_pytest(
    pytester: pytest.Pytester, example_repository: Path
):
    """SIGKILL gives pytest no chance to clean up: PR_SET_PDEATHSIG must end the server, and
    the watchdog what is left of its process group (here a model's helper process)."""
    repo = _model_repo(pytester.path, example_repository, "helper", HELPER_MODEL)
    pid_file = pytester.path / "server.pid"
    pytester.makepyfile(
        f"""
        import time

        import pytest

        @pytest.mark.triton_model("helper")
        def test_hold(triton, triton_server):
            open({str(pid_file)!r}, "w").write(str(triton_server.pid))
            time.sleep(120)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         f"--triton-model-repository={repo}"],
        cwd=pytester.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        server_pid = int(pid_file.read_text())
        ours = _processes_of(repo)
        assert pid_alive(server_pid) and len(ours) == 2  # the stub and its helper
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        regions = _stub_regions(ours)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (
            pid_alive(server_pid) or _processes_of(repo) or any(r.exists() for r in regions)
        ):
            time.sleep(0.1)
        assert not pid_alive(server_pid), "tritonserver outlived a SIGKILLed pytest"
        assert not _processes_of(repo), "part of the server outlived a SIGKILLed pytest"
        assert not [r.name for r in regions if r.exists()], "its shared memory was left"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in _processes_of(repo):  # what a failing run left, by pid
            os.kill(pid, signal.SIGKILL)
