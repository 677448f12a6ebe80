"""One Ctrl-C at any moment stops the session (after at most the step being measured), exit 2;
SIGTERM takes the same path with a deadline. Real signals to a real pytest process, a real
server, and nothing left running after."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from faults_support import add_model, processes_mentioning, slow_load_model

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY = REPO_ROOT / "example_suite/model_repository/tiny"

SLOW_LOAD = slow_load_model(20)

SUITE = """
import time
from pathlib import Path

import pytest

STARTED = Path(__file__).parent / "started"


def test_plain(triton_server):
    STARTED.write_text("plain")
    time.sleep(60)


@pytest.mark.triton_model("slow")
def test_load(triton):
    pass


@pytest.mark.triton_model("tiny")
@pytest.mark.triton_load(concurrency=[1, 2, 4], window_s=1.0, warmup_s=0.2)
def test_measure(triton):
    STARTED.write_text("measure")
    triton.measure()


def test_after():
    pass
"""


def _session(tmp_path: Path, select: str) -> tuple[subprocess.Popen[str], Path]:
    repo = tmp_path / "repo"
    shutil.copytree(TINY, repo / "tiny")
    add_model(repo, "slow", SLOW_LOAD, (TINY / "config.pbtxt").read_text())
    (tmp_path / "test_suite.py").write_text(SUITE)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-k", select,
         f"--triton-model-repository={repo}", "--triton-server-flags=exit-timeout-secs=2"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    return proc, repo


def _wait_for(condition, what: str, deadline_s: float = 90) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.1)


def _stopped(proc: subprocess.Popen[str], repo: Path, sig: int) -> tuple[str, float]:
    sent = time.monotonic()
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    elapsed = time.monotonic() - sent
    _wait_for(lambda: not processes_mentioning(str(repo)), "every process of ours end", 15)
    return out, elapsed


def test_one_ctrl_c_in_a_plain_test_stops_the_session(tmp_path: Path):
    """With a Triton test in the session it was ignored: the session went on to the end."""
    proc, repo = _session(tmp_path, "plain or measure or after")
    _wait_for((tmp_path / "started").exists, "the test start")
    out, elapsed = _stopped(proc, repo, signal.SIGINT)
    assert proc.returncode == 2, out
    assert "Ctrl-C: stopping now" in out and "KeyboardInterrupt" in out
    assert "passed" not in out.splitlines()[-1]  # test_after never ran
    assert (tmp_path / "started").read_text() == "plain"  # nor did test_measure
    assert elapsed < 45, out  # the test would have slept 60 s; the server stop takes a few


def test_one_ctrl_c_during_a_model_load_stops_the_session(tmp_path: Path):
    proc, repo = _session(tmp_path, "load or after")
    _wait_for(
        lambda: any("triton_python_backend_stub" in p for p in processes_mentioning(str(repo))),
        "the slow model's stub",
    )
    out, elapsed = _stopped(proc, repo, signal.SIGINT)
    assert proc.returncode == 2, out
    assert "Ctrl-C: stopping now" in out
    assert elapsed < 45, out


def test_sigterm_mid_measurement_finishes_the_step_saves_and_exits(tmp_path: Path):
    proc, repo = _session(tmp_path, "measure or after")
    _wait_for((tmp_path / "started").exists, "the measurement start")
    time.sleep(1.0)  # inside the first step
    out, _ = _stopped(proc, repo, signal.SIGTERM)
    assert proc.returncode == 2, out
    assert "SIGTERM: finishing the current step" in out, out
    assert "interrupted measurement saved to" in out
    (checkpoint,) = (tmp_path / ".triton-checkpoints").glob("*.ckpt")
    records = json.loads(checkpoint.read_text())["records"]
    steps = [s["load_point"] for s in records["test_suite.py::test_measure [tiny]"]
             ["measurement"]["steps"]]  # fmt: skip
    assert steps == ["c1"]  # the step in progress was finished, no further one started
