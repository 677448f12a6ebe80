"""Helpers of the fault suite: fault models, running a user's session, finding leftovers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

FAULTY_CONFIG = """\
backend: "python"
max_batch_size: 8
input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ 16 ] } ]
output [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ 16 ] } ]
instance_group [ { kind: KIND_CPU, count: 2 } ]
"""

# Misbehaves (parameter FAULT: "hang" or "exit") only once two requests execute at once, that
# is at concurrency 2 and up: its two instances share a lock file, and at concurrency 1 one
# request's execute() has returned before the next one is sent. So c1 is healthy and the fault
# strikes partway through c2, deterministically.
FAULTY_MODEL = """
import fcntl
import json
import os
import time

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"]).get("parameters", {})
        self.fault = params.get("FAULT", {}).get("string_value", "none")
        self.lock = open(os.path.join(os.path.dirname(__file__), "busy.lock"), "a")

    def execute(self, requests):
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if self.fault == "exit":
                os._exit(3)
            if self.fault == "hang":
                time.sleep(3600)
        try:
            time.sleep(0.001)
            out = []
            for r in requests:
                x = pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy()
                out.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", x + 1.0)]))
            return out
        finally:
            fcntl.flock(self.lock, fcntl.LOCK_UN)
"""


def slow_load_model(seconds: float) -> str:
    """A python model whose initialize() takes `seconds`: a model load to interrupt or kill."""
    return f"""
import time


class TritonPythonModel:
    def initialize(self, args):
        time.sleep({seconds})

    def execute(self, requests):
        return []
"""


def add_model(repo: Path, name: str, model_py: str, config: str = FAULTY_CONFIG) -> Path:
    """A python model `name` in `repo`; returns its directory."""
    (repo / name / "1").mkdir(parents=True)
    (repo / name / "config.pbtxt").write_text(config)
    (repo / name / "1" / "model.py").write_text(textwrap.dedent(model_py))
    return repo / name


def processes_mentioning(text: str) -> list[str]:
    """Running processes whose command line contains `text` (e.g. a test's own tmp dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def run_session(
    suite: Path, *args: str, timeout: float = 300, python: str = sys.executable
) -> subprocess.CompletedProcess[str]:
    """Run pytest on `suite` (a directory with tests) as a user would, in a subprocess of
    `python` (this interpreter unless another environment is being tested)."""
    return subprocess.run(
        [python, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=suite,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
