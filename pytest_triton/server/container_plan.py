"""What the Triton container is created with: image, command, mounts, ports, GPUs, shared memory.

Pure: the docker options of a ServerSpec are validated and turned into a ContainerPlan without
an engine (unit tested that way), and the plan renders as the equivalent `docker run` line for
docs and error messages. docker.py creates the container from it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_triton.errors import ConfigError
from pytest_triton.server.args import server_argv
from pytest_triton.spec import ServerSpec

if TYPE_CHECKING:
    import docker.types

CONTAINER_BINARY = "/opt/tritonserver/bin/tritonserver"
CONTAINER_MODELS = "/models"
CONTAINER_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}
HOST_IP = "127.0.0.1"


@dataclass(frozen=True)
class MountSpec:
    """One extra bind mount, from 'host:container[:ro|rw]'."""

    source: Path
    target: str
    read_only: bool

    def as_volume_arg(self) -> str:
        return f"{self.source}:{self.target}:{'ro' if self.read_only else 'rw'}"


def parse_mount(text: str, base: Path | None = None) -> MountSpec:
    """'host:container[:ro|rw]' -> MountSpec. Mode defaults to rw, as `docker run -v` does.

    Relative host paths are resolved against `base` (the current directory by default); the
    host path must exist, because the engine would otherwise create an empty root-owned
    directory there and Triton would fail far from the cause.
    """
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts[:2]):
        raise ConfigError(
            f"--triton-mount {text!r} is not 'host_path:container_path[:ro|rw]', "
            "e.g. --triton-mount ./engines:/engines:ro"
        )
    host, target = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else "rw"
    if mode not in ("ro", "rw"):
        raise ConfigError(f"--triton-mount {text!r}: mode must be 'ro' or 'rw', not {mode!r}")
    if not target.startswith("/"):
        raise ConfigError(
            f"--triton-mount {text!r}: the container path {target!r} must be absolute"
        )
    if _same_or_inside(target, CONTAINER_MODELS):
        raise ConfigError(
            f"--triton-mount {text!r}: {CONTAINER_MODELS} is where the model repository is "
            "mounted; set --triton-model-repository instead, or mount elsewhere"
        )
    source = Path(host).expanduser()
    if not source.is_absolute():
        source = (base or Path.cwd()) / source
    source = source.resolve()
    if not source.exists():
        raise ConfigError(f"--triton-mount {text!r}: host path {source} does not exist")
    return MountSpec(source=source, target=target, read_only=mode == "ro")


def _same_or_inside(path: str, root: str) -> bool:
    path = path.rstrip("/") or "/"
    return path == root or path.startswith(root + "/")


_GPU_ID = re.compile(r"^(\d+|GPU-[0-9a-fA-F-]+|MIG-[0-9a-zA-Z/-]+)$")


def gpu_device_ids(gpus: str) -> list[str] | None:
    """'all' -> None (every GPU), 'none'/'' -> [] (no GPU), '0,1' or UUIDs -> that list."""
    text = gpus.strip()
    if text.lower() == "all":
        return None
    if text.lower() in ("", "none"):
        return []
    ids = [part.strip() for part in text.split(",")]
    bad = [i for i in ids if not _GPU_ID.match(i)]
    if bad:
        raise ConfigError(
            f"--triton-gpus {gpus!r}: {', '.join(map(repr, bad))} is not a GPU; use 'all', "
            "'none', or comma separated indices or UUIDs as nvidia-smi -L shows them, e.g. 0,1"
        )
    return ids


def device_requests(gpus: str) -> list[docker.types.DeviceRequest]:
    """--triton-gpus -> the engine's device requests (what `docker run --gpus` sends)."""
    from docker.types import DeviceRequest

    ids = gpu_device_ids(gpus)
    if ids is None:
        return [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    if not ids:
        return []
    return [DeviceRequest(device_ids=ids, capabilities=[["gpu"]])]


_SHM_SIZE = re.compile(r"^\d+[bkmgBKMG]?$")


def check_shm_size(size: str) -> str:
    if not _SHM_SIZE.match(size.strip()):
        raise ConfigError(
            f"--triton-shm-size {size!r} is not a size: use a number with an optional unit "
            "b, k, m or g, e.g. 1g or 256m"
        )
    return size.strip().lower()


def gpus_flag(gpus: str) -> str | None:
    """The `docker run --gpus` value for --triton-gpus (None: no flag)."""
    ids = gpu_device_ids(gpus)
    if ids is None:
        return "all"
    return f'"device={",".join(ids)}"' if ids else None


# -- the container's configuration -------------------------------------------------------------


@dataclass(frozen=True)
class ContainerPlan:
    """Everything the container is created with; also rendered as the equivalent `docker run`."""

    image: str
    name: str
    command: list[str]
    labels: dict[str, str]
    mounts: list[MountSpec]
    environment: dict[str, str]
    shm_size: str
    gpus: str

    def create_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `client.containers.create`."""
        from docker.types import Mount

        return {
            "image": self.image,
            "command": self.command,
            "name": self.name,
            "labels": self.labels,
            "detach": True,
            # Container port -> (127.0.0.1, ephemeral): never reachable from other machines,
            # and two sessions (or an xdist run) never fight over a port.
            "ports": {f"{p}/tcp": (HOST_IP, None) for p in CONTAINER_PORTS.values()},
            "mounts": [
                Mount(target=m.target, source=str(m.source), type="bind", read_only=m.read_only)
                for m in self.mounts
            ],
            "environment": self.environment,
            "shm_size": self.shm_size,
            "device_requests": device_requests(self.gpus),
            "privileged": False,
        }

    def docker_run_argv(self) -> list[str]:
        """The `docker run` command line that starts the same container, for docs and errors."""
        argv = ["docker", "run", "--rm", "--name", self.name]
        gpus = gpus_flag(self.gpus)
        if gpus:
            argv += ["--gpus", gpus]
        argv += [f"--shm-size={self.shm_size}"]
        argv += [f"-p={HOST_IP}::{p}" for p in CONTAINER_PORTS.values()]
        argv += [f"-v={m.as_volume_arg()}" for m in self.mounts]
        argv += [f"-e={k}={v}" for k, v in self.environment.items()]
        argv += [f"--label={k}={v}" for k, v in self.labels.items()]
        return [*argv, self.image, *self.command]

    def docker_run_line(self) -> str:
        """docker_run_argv() quoted for a POSIX shell (the --gpus value keeps its quotes)."""
        return shlex.join(self.docker_run_argv())


def plan_container(
    spec: ServerSpec, name: str, labels: Mapping[str, str], base: Path | None = None
) -> ContainerPlan:
    """Validate the docker options of `spec` and turn them into a ContainerPlan."""
    if not spec.image:
        raise ConfigError("docker mode needs an image: set --triton-image (or triton_image)")
    repository = spec.model_repository
    if repository is None:
        raise ConfigError("docker mode needs a model repository: set --triton-model-repository")
    if not repository.is_dir():
        raise ConfigError(
            f"model repository {repository} does not exist or is not a directory; "
            "fix --triton-model-repository (or the triton_model_repository ini value)"
        )
    extra = [parse_mount(m, base) for m in spec.mounts]
    targets = [m.target.rstrip("/") for m in extra]
    dupes = sorted({t for t in targets if targets.count(t) > 1})
    if dupes:
        raise ConfigError(f"--triton-mount: {', '.join(dupes)} is mounted more than once")
    models = MountSpec(source=repository.resolve(), target=CONTAINER_MODELS, read_only=True)
    command = server_argv(
        CONTAINER_BINARY,
        CONTAINER_MODELS,
        CONTAINER_PORTS["http"],
        CONTAINER_PORTS["grpc"],
        CONTAINER_PORTS["metrics"],
        dict(spec.flags),
        server_id=name,
        address="0.0.0.0",
    )
    gpu_device_ids(spec.gpus)  # validate before any engine call
    return ContainerPlan(
        image=spec.image,
        name=name,
        command=command,
        labels=dict(labels),
        mounts=[models, *extra],
        environment={str(k): str(v) for k, v in spec.env.items()},
        shm_size=check_shm_size(spec.shm_size),
        gpus=spec.gpus,
    )
