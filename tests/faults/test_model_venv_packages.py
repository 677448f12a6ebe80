"""A user's python model imports the packages of the environment pytest runs in, on every
Python version we claim: the stub's embedded interpreter ignores PYTHONPATH on 3.11+, so a model
importing a package of the venv once failed to load with ModuleNotFoundError there."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from faults_support import add_model, run_session

REPO_ROOT = Path(__file__).resolve().parents[2]
CLAIMED = ("3.10", "3.11", "3.12", "3.13")  # pyproject's requires-python, and the README
# One venv per version, made once and reused (ignored by git): 30-40 s each to install.
VENVS = REPO_ROOT / ".venv-versions"

MODEL = """
import only_in_the_test_venv
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        out = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy()
            y = x + only_in_the_test_venv.OFFSET
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", y)]))
        return out
"""

SUITE = """
import pytest


@pytest.mark.triton_model("uses_venv")
@pytest.mark.triton_load(concurrency=[1], window_s=0.3, warmup_s=0.1)
def test_model_sees_the_venv(triton):
    triton.measure()
"""


def _interpreter(version: str) -> str | None:
    """pyenv's install of `version` (its shims answer only for the selected versions), else
    one on PATH."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted(pyenv.glob(f"{version}.*/bin/python{version}"))
    return str(candidates[-1]) if candidates else shutil.which(f"python{version}")


def _venv(version: str) -> Path:
    """A venv of `version` with pytest-triton (editable, `server` extra) and a package that
    exists nowhere else: written into its site-packages only."""
    python = _interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine (pyenv install {version})")
    venv = VENVS / version
    stamp = venv / ".installed"
    pyproject = REPO_ROOT / "pyproject.toml"
    if not stamp.exists() or pyproject.stat().st_mtime > stamp.stat().st_mtime:
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "-e", f"{REPO_ROOT}[server]"],
            check=True,
        )  # fmt: skip
        stamp.touch()
    site = _ask(venv, "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    package = Path(site) / "only_in_the_test_venv"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("OFFSET = 41.0\n")
    return venv


def _ask(venv: Path, code: str) -> str:
    command = [str(venv / "bin/python"), "-c", code]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize("version", CLAIMED)
def test_a_model_imports_a_package_of_the_test_venv(tmp_path: Path, version: str):
    venv = _venv(version)
    base = _ask(venv, "import sys; print(sys.base_prefix)")
    # the base interpreter really does not have it: only the venv makes the import work
    assert not list(Path(base).rglob("only_in_the_test_venv"))
    repo = tmp_path / "repo"
    tiny = REPO_ROOT / "example_suite/model_repository/tiny/config.pbtxt"
    add_model(repo, "uses_venv", MODEL, tiny.read_text())
    (tmp_path / "test_suite.py").write_text(SUITE)
    result = run_session(
        tmp_path,
        f"--triton-model-repository={repo}",
        "--triton-load-timeout=60",
        python=str(venv / "bin/python"),
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "1 passed" in out and f"Python {version}." in out
