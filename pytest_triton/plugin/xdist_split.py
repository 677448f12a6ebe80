"""pytest-xdist: what each worker gets of the session's hardware, from options that take a
per-worker form.

* `--triton-url a:8001,b:8001` (and `--triton-http-url`): worker i uses the i-th server,
  round robin when workers outnumber them; outside xdist, the first.
* `--triton-gpus per-worker`: the visible GPUs split between the workers, each its own share
  (shared round robin when workers outnumber GPUs); docker mode asks for those devices, local
  mode sets CUDA_VISIBLE_DEVICES; outside xdist, all of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from pytest_triton.errors import ConfigError

PER_WORKER = "per-worker"


def worker_slot(config: pytest.Config) -> tuple[int, int]:
    """(this worker's index, how many workers); (0, 1) outside pytest-xdist."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return 0, 1
    index = int(str(workerinput.get("workerid", "gw0")).removeprefix("gw") or 0)
    return index, max(1, int(workerinput.get("workercount", 1)))


def pick_url(value: str | None, slot: tuple[int, int]) -> str | None:
    """The worker's server from a comma-separated list of host:port."""
    if not value:
        return value
    urls = [u.strip() for u in value.split(",") if u.strip()]
    if not urls:
        raise ConfigError(f"--triton-url {value!r} names no server")
    return urls[slot[0] % len(urls)]


def split_gpus(count: int, slot: tuple[int, int]) -> list[int]:
    """The positions, among `count` GPUs, that worker `slot[0]` of `slot[1]` gets."""
    if count <= 0:
        return []
    index, workers = slot
    if workers <= 1:
        return list(range(count))
    share = max(1, count // workers)
    first = (index * share) % count
    return [(first + k) % count for k in range(share)]


def worker_gpus(value: str, slot: tuple[int, int], visible: Callable[[], list[str]]) -> str:
    """--triton-gpus as this worker uses it: per-worker becomes its share of the GPUs this
    process sees, by their ids (a CUDA_VISIBLE_DEVICES list is followed, not renumbered)."""
    if value.strip() != PER_WORKER:
        return value
    ids = visible()
    if not ids:
        raise ConfigError(
            "--triton-gpus per-worker: this machine shows no GPU to split between the workers "
            "(NVML found none); use --triton-gpus none for a CPU-only run"
        )
    return ",".join(ids[i] for i in split_gpus(len(ids), slot))


def visible_gpus() -> list[str]:
    """The ids of the GPUs this process may use: CUDA_VISIBLE_DEVICES when set, else the
    indices NVML counts."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    from pytest_triton.baseline.fingerprint import read_gpus

    return [str(i) for i in range(read_gpus("all").count)]
