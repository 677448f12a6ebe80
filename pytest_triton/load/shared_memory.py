"""System shared memory (perf_analyzer's --shared-memory system): tensors pass through POSIX
shared memory regions registered with Triton instead of travelling in the request.

One input region holds every distinct request's tensors, each request naming its slice; each
output gets one region all requests write into (as perf_analyzer does: a measurement reads no
outputs, so their overwriting each other does not matter). Regions are unregistered from
Triton and unlinked when the measurement ends, whether it passed, failed or was interrupted:
`SystemSharedMemory` is a context the driver closes.

The server must see this machine's /dev/shm: a local server or a remote one on this host. A
docker-mode container has a /dev/shm of its own, so Triton refuses the region; the error says
so.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_triton import triton_http
from pytest_triton.errors import ConfigError, MeasurementError

from .inputs import ModelIO, raw_bytes
from .native.h2grpc import grpc_message

if TYPE_CHECKING:
    from multiprocessing.shared_memory import SharedMemory

    from .inputs import Array

# Output regions when a model's output size is not known from its config (BYTES or -1 dims):
# perf_analyzer's default --output-shared-memory-size.
DEFAULT_OUTPUT_BYTES = 102_400
_ITEM_BYTES = {
    "BOOL": 1, "UINT8": 1, "INT8": 1, "UINT16": 2, "INT16": 2, "FP16": 2, "BF16": 2,
    "UINT32": 4, "INT32": 4, "FP32": 4, "UINT64": 8, "INT64": 8, "FP64": 8,
}  # fmt: skip


def check_reachable(grpc_address: str) -> None:
    """Shared memory needs the server on this machine: refuse a remote host before load."""
    host = grpc_address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return
    raise ConfigError(
        f"shared_memory='system' needs Triton on this machine, but it answers at {host}: "
        "shared memory regions are this host's memory; drop shared_memory for a remote server"
    )


class SystemSharedMemory:
    """The regions of one measurement, registered with Triton until `close()`."""

    def __init__(self, http: str, model: str) -> None:
        self._http = http
        self._prefix = f"pytest_triton_{os.getpid()}_{model}"[:60]
        self._regions: list[tuple[str, SharedMemory]] = []

    def _region(self, suffix: str, size: int) -> tuple[str, SharedMemory]:
        from multiprocessing.shared_memory import SharedMemory

        name = f"{self._prefix}_{suffix}"
        memory = SharedMemory(create=True, size=max(size, 1))
        self._regions.append((name, memory))  # owned from here: close() unlinks it
        try:
            triton_http.call(
                self._http,
                "POST",
                f"/v2/systemsharedmemory/region/{name}/register",
                {"key": f"/{memory.name}", "offset": 0, "byte_size": memory.size},
            )
        except triton_http.TritonHTTPError as exc:
            raise MeasurementError(
                f"Triton refused the shared memory region {name}: {exc.message}. A docker-mode "
                "server has a /dev/shm of its own: use shared_memory with a local server"
            ) from None
        return name, memory

    def messages(self, io: ModelIO, requests: Sequence[Mapping[str, Array]]) -> tuple[bytes, ...]:
        """gRPC requests whose inputs and outputs are slices of registered regions."""
        from tritonclient.grpc import service_pb2

        dtypes = {t.name: t.datatype for t in io.inputs}
        blobs = [{n: raw_bytes(dtypes[n], a) for n, a in r.items()} for r in requests]
        size = sum(len(b) for tensors in blobs for b in tensors.values())
        inputs_name, inputs = self._region("inputs", size)
        buffer = inputs.buf
        assert buffer is not None  # an open region always has its buffer
        outputs = {
            out: self._region(f"out{i}", output_bytes(io, out, requests))
            for i, out in enumerate(io.outputs)
        }
        offset = 0
        messages = []
        for tensors, raw in zip(requests, blobs, strict=True):
            req = service_pb2.ModelInferRequest(model_name=io.name, model_version=io.version or "")
            for name, arr in tensors.items():
                data = raw[name]
                buffer[offset : offset + len(data)] = data
                entry = req.inputs.add()
                entry.name = name
                entry.datatype = dtypes[name]
                entry.shape.extend(int(d) for d in arr.shape)
                _place(entry.parameters, inputs_name, len(data), offset)
                offset += len(data)
            for out, (region, memory) in outputs.items():
                wanted = req.outputs.add()
                wanted.name = out
                _place(wanted.parameters, region, memory.size, 0)
            messages.append(grpc_message(req.SerializeToString()))
        return tuple(messages)

    def close(self) -> None:
        """Unregister every region from Triton and unlink it, even if Triton is gone."""
        for name, memory in self._regions:
            with contextlib.suppress(
                triton_http.TritonHTTPError, triton_http.TritonUnreachable, TimeoutError
            ):
                triton_http.call(
                    self._http,
                    "POST",
                    f"/v2/systemsharedmemory/region/{name}/unregister",
                    timeout_s=5.0,
                )
            memory.close()
            with contextlib.suppress(FileNotFoundError):
                memory.unlink()
        self._regions = []


def output_bytes(io: ModelIO, output: str, requests: Sequence[Mapping[str, Any]]) -> int:
    """An output region's size: from the config's dims and type when fixed, else the default."""
    spec = io.output_specs.get(output)
    if spec is None or spec.datatype not in _ITEM_BYTES or any(d < 0 for d in spec.dims):
        return DEFAULT_OUTPUT_BYTES
    count = 1
    for d in spec.dims:
        count *= d
    batch = max((next(iter(r.values())).shape[0] for r in requests if r), default=1)
    rows = batch if io.max_batch_size else 1
    return count * rows * _ITEM_BYTES[spec.datatype]


def _place(parameters: Any, region: str, size: int, offset: int) -> None:
    parameters["shared_memory_region"].string_param = region
    parameters["shared_memory_byte_size"].int64_param = size
    if offset:
        parameters["shared_memory_offset"].int64_param = offset
