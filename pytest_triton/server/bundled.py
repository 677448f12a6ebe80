"""The tritonserver in the nvidia-pytriton wheel: where it is, and what it needs to run.

Outside pytriton the wheel's server needs a backend directory holding the python backend plus
the stub built for *this* interpreter, a cache directory, and a library path with the wheel's
bundled libraries and libpython. LocalServer starts it so; a tool that starts servers of its
own (Model Analyzer, in the config-search benchmark) gets the same through a wrapper script.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

from pytest_triton.errors import ServerStartError


def bundled_server_root() -> Path | None:
    """<site-packages>/pytriton/tritonserver from the nvidia-pytriton wheel, if installed.

    Located with find_spec so pytriton itself (and its heavy imports) is never imported.
    """
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))) / "tritonserver"
    return root if (root / "bin" / "tritonserver").exists() else None


def backend_flags(root: Path, workdir: Path) -> dict[str, str]:
    """The server flags of the wheel's server: backends/python with the stub matching this
    interpreter (the wheel ships several) under `workdir`, and a cache directory there."""
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / py / "triton_python_backend_stub"
    if not stub.exists():
        have = sorted(p.name for p in (root / "python_backend_stubs").iterdir())
        raise ServerStartError(
            f"the nvidia-pytriton wheel has no python backend stub for Python {py} "
            f"(it has {', '.join(have)}); run pytest with one of those Python versions"
        )
    backends = workdir / "backends"
    target = backends / "python"
    if not target.exists():
        shutil.copytree(root / "backends" / "python", target)
        shutil.copy2(stub, target / "triton_python_backend_stub")
    (workdir / "cache").mkdir(parents=True, exist_ok=True)
    return {"backend-directory": str(backends), "cache-directory": str(workdir / "cache")}


def bundled_env(root: Path, env: Mapping[str, str]) -> dict[str, str]:
    """`env` with what the wheel's server and its python stubs need."""
    out = dict(env)
    libs = root.parent.parent / "nvidia_pytriton.libs"
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    parts = [str(libs), libdir, out.get("LD_LIBRARY_PATH", "")]
    out["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in parts if p)
    # The python stub embeds this interpreter's libpython, in an isolated config that ignores
    # PYTHONPATH on 3.11+. It finds its prefix as a plain `python3` would, by looking `python3`
    # up on PATH: this interpreter's directory first makes that the venv's python3, so models
    # see the venv's packages (and its .pth files), as the tests do, on every Python version.
    path = [os.path.dirname(sys.executable), out.get("PATH", "")]
    out["PATH"] = os.pathsep.join(p for p in path if p)
    return out
