"""Request payloads: from the model's config (seeded random or zero data of the right dtype and
shape) or from user data (numpy arrays, .npz/.npy files, perf_analyzer-style JSON), encoded once
into the exact bytes each protocol sends.

numpy and tritonclient's protobufs are imported inside the functions that need them, so loading
the plugin costs nothing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_triton.errors import MeasurementError

from .native.h2grpc import grpc_message

if TYPE_CHECKING:
    import numpy as np

    Array = np.ndarray[Any, Any]

# Triton datatype -> numpy dtype name (BF16 travels as its raw 16 bits; BYTES as objects)
NUMPY_DTYPES = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BF16": "uint16",
    "BYTES": "object",
}
# Random or zero data is repeated over this many distinct requests when tensors are small, so
# no cache can answer every request from one entry; big tensors get one request's worth.
_DISTINCT_SAMPLES = 4
_SMALL_BYTES = 1 << 20


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str  # Triton's name: FP32, INT64, BYTES, ...
    dims: tuple[int, ...]  # without the batch dimension; -1 is dynamic
    optional: bool = False


@dataclass(frozen=True)
class ModelIO:
    name: str
    version: str | None
    max_batch_size: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[str, ...]
    # model_transaction_policy { decoupled: true }: 0..n responses per request, over a stream
    decoupled: bool = False
    # sequence_batching: requests come in sequences sharing a correlation id
    sequence_batching: bool = False
    output_tensors: tuple[TensorSpec, ...] = ()  # the outputs' types and dims, from the config

    @property
    def output_specs(self) -> dict[str, TensorSpec]:
        return {t.name: t for t in self.output_tensors}


def model_io(model: str, version: str | None, config: Mapping[str, Any]) -> ModelIO:
    """Inputs and outputs from a model's config (GET .../config)."""

    def dtype(entry: Mapping[str, Any]) -> str:
        raw = str(entry.get("data_type", "TYPE_FP32")).removeprefix("TYPE_")
        return "BYTES" if raw == "STRING" else raw

    def dims(entry: Mapping[str, Any]) -> tuple[int, ...]:
        reshape = entry.get("reshape")  # the client sends `dims`; reshape is the model's view
        del reshape
        return tuple(int(d) for d in entry.get("dims", []))

    inputs = tuple(
        TensorSpec(str(i["name"]), dtype(i), dims(i), bool(i.get("optional", False)))
        for i in config.get("input", [])
    )
    outputs = tuple(str(o["name"]) for o in config.get("output", []))
    policy = config.get("model_transaction_policy") or {}
    return ModelIO(
        model,
        version,
        int(config.get("max_batch_size", 0)),
        inputs,
        outputs,
        decoupled=bool(policy.get("decoupled", False)),
        sequence_batching="sequence_batching" in config,
        output_tensors=tuple(
            TensorSpec(str(o["name"]), dtype(o), dims(o)) for o in config.get("output", [])
        ),
    )


def resolve_shapes(io: ModelIO, shapes: Mapping[str, Sequence[int]]) -> dict[str, tuple[int, ...]]:
    """Concrete per-request shapes (without batch) for generated data; -1 dims need a user shape."""
    unknown = sorted(set(shapes) - {t.name for t in io.inputs})
    if unknown:
        raise MeasurementError(
            f"shapes given for {', '.join(unknown)}, which model {io.name!r} does not have; "
            f"its inputs are {', '.join(t.name for t in io.inputs)}"
        )
    resolved: dict[str, tuple[int, ...]] = {}
    for t in io.inputs:
        if t.optional and t.name not in shapes:
            continue
        if t.name in shapes:
            given = tuple(int(d) for d in shapes[t.name])
            _check_shape(io, t, given, "the shape given")
            resolved[t.name] = given
        elif any(d < 0 for d in t.dims):
            dims = [4 if d < 0 else d for d in t.dims]
            example = ",".join(str(d) for d in dims)
            raise MeasurementError(
                f"input {t.name!r} of model {io.name!r} has dynamic dims {list(t.dims)}: give "
                f"its shape, e.g. shapes={{{t.name!r}: {dims}}} in @triton_load "
                f"(perf_analyzer: --shape {t.name}:{example})"
            )
        else:
            resolved[t.name] = t.dims
    return resolved


def _check_shape(io: ModelIO, t: TensorSpec, shape: tuple[int, ...], what: str) -> None:
    ok = len(shape) == len(t.dims) and all(
        d < 0 or d == s for d, s in zip(t.dims, shape, strict=True)
    )
    if not ok:
        raise MeasurementError(
            f"{what} for input {t.name!r} of model {io.name!r} is {list(shape)}, but the model "
            f"takes {list(t.dims)} (-1: any size; without the batch dimension)"
        )


def generated_samples(
    io: ModelIO, shapes: Mapping[str, tuple[int, ...]], kind: str, seed: int
) -> list[dict[str, Array]]:
    """Per-request tensors (no batch dim) of seeded random data or zeros."""
    import numpy as np

    rng = np.random.default_rng(seed)
    per_sample = sum(int(np.prod(shape, dtype=np.int64)) * 4 for shape in shapes.values())
    count = _DISTINCT_SAMPLES if per_sample * _DISTINCT_SAMPLES <= _SMALL_BYTES else 1
    samples = []
    for _ in range(count):
        sample: dict[str, Array] = {}
        for t in io.inputs:
            if t.name not in shapes:
                continue
            sample[t.name] = _make_tensor(rng, t.datatype, shapes[t.name], zero=kind == "zero")
        samples.append(sample)
    return samples


def _make_tensor(rng: Any, datatype: str, shape: tuple[int, ...], zero: bool) -> Array:
    import numpy as np

    if datatype == "BYTES":
        n = int(np.prod(shape, dtype=np.int64))
        if zero:
            values = [b"0"] * n
        else:
            letters = rng.integers(97, 123, size=(n, 16), dtype=np.uint8)
            values = [row.tobytes() for row in letters]
        result: Array = np.array(values, dtype=object).reshape(shape)
        return result
    dtype = np.dtype(NUMPY_DTYPES[datatype])
    out: Array
    if zero:
        out = np.zeros(shape, dtype=dtype)
    elif datatype == "BOOL":
        out = rng.integers(0, 2, size=shape).astype(bool)
    elif datatype == "BF16":
        floats = rng.random(size=shape, dtype=np.float32)
        out = (floats.view(np.uint32) >> 16).astype(np.uint16)
    elif dtype.kind == "f":
        out = rng.random(size=shape).astype(dtype)
    else:
        # small non-negative integers: valid for index-like inputs (embeddings, token ids) too
        out = rng.integers(0, 64, size=shape).astype(dtype)
    return out


def user_samples(io: ModelIO, data: Any) -> list[dict[str, Array]]:
    """Per-request tensors from user data.

    `data`: a path (.json perf_analyzer format, .npz with one array per input, .npy for a
    single-input model), a mapping name -> array, or a list of such mappings. An array whose
    rank is the model's rank + 1 holds several requests along its first axis.
    """
    import numpy as np

    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.exists():
            raise MeasurementError(f"input data file {str(path)!r} does not exist")
        if path.suffix == ".json":
            return _pa_json_samples(io, path)
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                data = {k: npz[k] for k in npz.files}
        elif path.suffix == ".npy":
            required = [t for t in io.inputs if not t.optional]
            if len(required) != 1:
                raise MeasurementError(
                    f"{path.name}: a .npy file feeds a single-input model; model {io.name!r} has "
                    f"{len(required)} inputs: use .npz with one array per input name"
                )
            data = {required[0].name: np.load(path, allow_pickle=False)}
        else:
            raise MeasurementError(
                f"input data {str(path)!r}: use a .json (perf_analyzer format), .npz or .npy file"
            )
    if isinstance(data, Mapping):
        return _split_arrays(io, data)
    if isinstance(data, Sequence):
        samples: list[dict[str, Array]] = []
        for item in data:
            samples.extend(_split_arrays(io, item))
        if not samples:
            raise MeasurementError("input data is an empty list")
        return samples
    raise MeasurementError(f"input data of type {type(data).__name__} is not understood")


def _split_arrays(io: ModelIO, arrays: Mapping[str, Any]) -> list[dict[str, Array]]:
    import numpy as np

    by_name = {t.name: t for t in io.inputs}
    unknown = sorted(set(arrays) - set(by_name))
    if unknown:
        raise MeasurementError(
            f"input data names {', '.join(unknown)}, which model {io.name!r} does not have "
            f"(inputs: {', '.join(by_name)})"
        )
    missing = [t.name for t in io.inputs if not t.optional and t.name not in arrays]
    if missing:
        raise MeasurementError(f"input data lacks required input(s) {', '.join(missing)}")
    per_input: dict[str, list[Array]] = {}
    for name, value in arrays.items():
        t = by_name[name]
        arr = np.asarray(value, dtype=object if t.datatype == "BYTES" else NUMPY_DTYPES[t.datatype])
        items = [arr[i] for i in range(arr.shape[0])] if arr.ndim == len(t.dims) + 1 else [arr]
        for item in items:
            _check_shape(io, t, tuple(item.shape), "input data")
        per_input[name] = items
    counts = {len(v) for v in per_input.values()}
    if len(counts) != 1:
        raise MeasurementError(
            "input data arrays hold different numbers of requests: "
            + ", ".join(f"{k}: {len(v)}" for k, v in per_input.items())
        )
    n = counts.pop()
    return [{name: items[i] for name, items in per_input.items()} for i in range(n)]


def _pa_json_samples(io: ModelIO, path: Path) -> list[dict[str, Array]]:
    """perf_analyzer's --input-data JSON: {"data": [{"IN": [..] | {"content"|"b64", "shape"}}]}."""
    import numpy as np

    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise MeasurementError(f"cannot read input data {str(path)!r}: {exc}") from None
    entries = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise MeasurementError(f'{path.name}: expected {{"data": [{{input: values}}, ...]}}')
    by_name = {t.name: t for t in io.inputs}
    samples: list[dict[str, Array]] = []
    for n, entry in enumerate(entries):
        if isinstance(entry, list):
            raise MeasurementError(f"{path.name}: sequence (list of lists) data is not supported")
        sample: dict[str, Any] = {}
        for name, value in entry.items():
            t = by_name.get(name)
            if t is None:
                raise MeasurementError(
                    f"{path.name} entry {n}: model {io.name!r} has no input {name!r}"
                )
            shape = None
            if isinstance(value, dict):
                shape = value.get("shape")
                if "b64" in value:
                    raw = base64.b64decode(value["b64"])
                    if t.datatype == "BYTES":
                        raise MeasurementError(f"{path.name}: b64 data for BYTES input {name!r}")
                    value = np.frombuffer(raw, dtype=NUMPY_DTYPES[t.datatype])
                else:
                    value = value.get("content")
            dt = object if t.datatype == "BYTES" else NUMPY_DTYPES[t.datatype]
            arr = np.asarray(value, dtype=dt)
            if t.datatype == "BYTES":
                arr = np.vectorize(
                    lambda s: s.encode() if isinstance(s, str) else s, otypes=[object]
                )(arr)
            if shape is None:
                if any(d < 0 for d in t.dims):
                    raise MeasurementError(
                        f"{path.name} entry {n}: input {name!r} has dynamic dims {list(t.dims)}; "
                        'give {"content": [...], "shape": [...]}'
                    )
                shape = t.dims
            try:
                arr = arr.reshape(tuple(int(d) for d in shape))
            except ValueError:
                raise MeasurementError(
                    f"{path.name} entry {n}: {arr.size} values for input {name!r} do not fill "
                    f"shape {list(shape)}"
                ) from None
            sample[name] = arr
        samples.extend(_split_arrays(io, sample))
    return samples


def batched(
    io: ModelIO, samples: list[dict[str, Array]], batch_size: int
) -> list[dict[str, Array]]:
    """Whole requests: `batch_size` consecutive samples stacked on a new batch axis (when the
    model batches), cycling through the samples."""
    import numpy as np

    if io.max_batch_size == 0:
        if batch_size != 1:
            raise MeasurementError(
                f"model {io.name!r} does not batch (max_batch_size 0): batch_size must be 1, "
                f"not {batch_size}"
            )
        return samples
    if batch_size > io.max_batch_size:
        raise MeasurementError(
            f"batch_size {batch_size} exceeds the max_batch_size {io.max_batch_size} of "
            f"model {io.name!r}"
        )
    n = len(samples)
    requests = []
    for start in range(n):
        group = [samples[(start + i) % n] for i in range(batch_size)]
        requests.append({name: np.stack([g[name] for g in group]) for name in group[0]})
        if n == 1:
            break
    return requests


def raw_bytes(datatype: str, arr: Array) -> bytes:
    """A tensor's wire bytes (Triton raw format; BYTES: 4-byte little-endian length + data)."""
    if datatype == "BYTES":
        parts = []
        for item in arr.reshape(-1):
            b = item if isinstance(item, bytes) else str(item).encode()
            parts.append(len(b).to_bytes(4, "little") + b)
        return b"".join(parts)
    return bytes(arr.tobytes(order="C"))


def grpc_messages(io: ModelIO, requests: list[dict[str, Array]]) -> tuple[bytes, ...]:
    """Length-prefixed ModelInferRequest messages, serialized once."""
    from tritonclient.grpc import service_pb2

    dtypes = {t.name: t.datatype for t in io.inputs}
    out = []
    for tensors in requests:
        req = service_pb2.ModelInferRequest(model_name=io.name, model_version=io.version or "")
        for name, arr in tensors.items():
            entry = req.inputs.add()
            entry.name = name
            entry.datatype = dtypes[name]
            entry.shape.extend(int(d) for d in arr.shape)
            req.raw_input_contents.append(raw_bytes(dtypes[name], arr))
        out.append(grpc_message(req.SerializeToString()))
    return tuple(out)


def http_messages(
    io: ModelIO, requests: list[dict[str, Array]], authority: str
) -> tuple[bytes, ...]:
    """Complete HTTP/1.1 requests using Triton's binary tensor extension, outputs in binary."""
    path = f"/v2/models/{io.name}" + (f"/versions/{io.version}" if io.version else "") + "/infer"
    dtypes = {t.name: t.datatype for t in io.inputs}
    out = []
    for tensors in requests:
        blobs = [raw_bytes(dtypes[n], a) for n, a in tensors.items()]
        header = {
            "inputs": [
                {
                    "name": name,
                    "shape": [int(d) for d in arr.shape],
                    "datatype": dtypes[name],
                    "parameters": {"binary_data_size": len(blob)},
                }
                for (name, arr), blob in zip(tensors.items(), blobs, strict=True)
            ],
            "parameters": {"binary_data_output": True},
        }
        head = json.dumps(header, separators=(",", ":")).encode()
        body = head + b"".join(blobs)
        out.append(
            (
                f"POST {path} HTTP/1.1\r\nHost: {authority}\r\n"
                f"Inference-Header-Content-Length: {len(head)}\r\n"
                "Content-Type: application/octet-stream\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
    return tuple(out)
