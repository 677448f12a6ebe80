"""The server dies (kill -9) or a python stub hangs on a failure: every wait notices within
seconds, and the test that was running fails with how the server ended and its log tail."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from faults_support import add_model, processes_mentioning, slow_load_model

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY_CONFIG = (REPO_ROOT / "example_suite/model_repository/tiny/config.pbtxt").read_text()

SLOW_LOAD = slow_load_model(6)

# A stub that reports a failure and never finishes starting. The hang in the wild (a stub that
# cannot import its packages, with another model loaded) did not reproduce on this machine, so
# this model prints the stub's own failure line and then hangs: what the server logs and does.
FAILS_AND_HANGS = """
import time


class TritonPythonModel:
    def initialize(self, args):
        print("Failed to initialize Python stub: ModuleNotFoundError: No module named 'x'",
              flush=True)
        time.sleep(3600)
"""


def _start(suite: Path, repo: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         f"--triton-model-repository={repo}", *args],
        cwd=suite, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _server_pid(repo: Path, deadline_s: float = 60) -> int:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for line in processes_mentioning(f"--model-repository={repo}"):
            pid, _, cmdline = line.partition(": ")
            if "tritonserver" in cmdline:
                return int(pid)
        time.sleep(0.1)
    raise AssertionError("tritonserver did not start")


def _wait_for_stub(repo: Path, model: str, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while not any(
        "triton_python_backend_stub" in p for p in processes_mentioning(str(repo / model))
    ):
        assert time.monotonic() < deadline, f"no stub of {model} started"
        time.sleep(0.1)


def _finish(proc: subprocess.Popen[str], repo: Path) -> tuple[str, float]:
    started = time.monotonic()
    out, _ = proc.communicate(timeout=180)
    elapsed = time.monotonic() - started
    deadline = time.monotonic() + 15
    while processes_mentioning(str(repo)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(str(repo)) == []
    return out, elapsed


def test_kill_9_during_a_model_load_fails_that_test_at_once(tmp_path: Path):
    repo = tmp_path / "repo"
    add_model(repo, "slow", SLOW_LOAD, TINY_CONFIG)
    (tmp_path / "test_suite.py").write_text(
        "import pytest\n\n@pytest.mark.triton_model('slow')\ndef test_slow(triton):\n    pass\n"
    )
    proc = _start(tmp_path, repo)
    server = _server_pid(repo)
    _wait_for_stub(repo, "slow")
    os.kill(server, signal.SIGKILL)
    out, elapsed = _finish(proc, repo)
    assert proc.returncode == 1, out
    # once it waited the whole 120 s load timeout and blamed the python stub
    assert elapsed < 60, out
    assert "Triton was killed by SIGKILL while loading model 'slow'" in out, out
    assert "--- tritonserver log (tail) ---" in out


def test_kill_9_mid_measurement_fails_that_test_with_the_log_tail(tmp_path: Path):
    repo = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "example_suite/model_repository/tiny", repo / "tiny")
    (tmp_path / "test_suite.py").write_text(
        """
import os
import signal
import threading

import pytest


@pytest.mark.triton_model("tiny")
@pytest.mark.triton_load(concurrency=[1], window_s=1.0, warmup_s=0.2)
def test_killed(triton, triton_server):
    threading.Timer(1.5, os.kill, (triton_server.pid, signal.SIGKILL)).start()
    triton.measure()
"""
    )
    proc = _start(tmp_path, repo)
    out, _ = _finish(proc, repo)
    assert proc.returncode == 1, out
    failure = out.split("FAILURES", 1)[1]
    assert "Triton died while measuring 'tiny' at c1" in failure, out
    assert "(it was killed by SIGKILL)" in failure
    assert "--- tritonserver log (tail) ---" in failure


def test_a_stub_that_fails_and_hangs_fails_the_load_within_seconds(tmp_path: Path):
    repo = tmp_path / "repo"
    add_model(repo, "hangs", FAILS_AND_HANGS, TINY_CONFIG)
    (tmp_path / "test_suite.py").write_text(
        "import pytest\n\n@pytest.mark.triton_model('hangs')\ndef test_hangs(triton):\n    pass\n"
    )
    # a short exit timeout: Triton would otherwise wait 30 s at stop for the hung stub
    proc = _start(tmp_path, repo, "--triton-server-flags=exit-timeout-secs=2")
    out, elapsed = _finish(proc, repo)
    assert proc.returncode == 1, out
    assert elapsed < 60, out  # the load timeout is 120 s
    assert "Triton reported a failure while loading model 'hangs'" in out, out
    assert "No module named 'x'" in out
