"""Payloads from model config / user data, and their exact wire encodings."""

from __future__ import annotations

import ast
import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from pytest_triton.errors import MeasurementError
from pytest_triton.load import inputs
from pytest_triton.load.native.http1 import parse_response
from pytest_triton.plugin.loadspec import build_load_spec

CONFIG = {
    "name": "m",
    "max_batch_size": 8,
    "input": [
        {"name": "IMG", "data_type": "TYPE_FP32", "dims": [3, -1]},
        {"name": "IDS", "data_type": "TYPE_INT64", "dims": [4]},
        {"name": "TXT", "data_type": "TYPE_STRING", "dims": [2]},
        {"name": "OPT", "data_type": "TYPE_FP16", "dims": [1], "optional": True},
    ],
    "output": [{"name": "OUT", "data_type": "TYPE_FP32", "dims": [1]}],
}


@pytest.fixture
def io() -> inputs.ModelIO:
    return inputs.model_io("m", None, CONFIG)


def test_model_io_from_config(io):
    assert io.max_batch_size == 8 and io.outputs == ("OUT",)
    assert [(t.name, t.datatype, t.dims, t.optional) for t in io.inputs] == [
        ("IMG", "FP32", (3, -1), False),
        ("IDS", "INT64", (4,), False),
        ("TXT", "BYTES", (2,), False),
        ("OPT", "FP16", (1,), True),
    ]


def test_dynamic_dims_need_a_user_shape_and_say_so(io):
    with pytest.raises(MeasurementError, match=r"'IMG'.*dynamic dims \[3, -1\].*--shape IMG:3,4"):
        inputs.resolve_shapes(io, {})


def test_the_dynamic_dims_hint_is_python_that_works():
    """For one dynamic dim the hint once read shapes={'INPUT0': (4)}: the number 4, and
    copying it crashed pytest with an INTERNALERROR."""
    config = {"name": "m", "max_batch_size": 0, "input": [{"name": "INPUT0", "dims": [-1]}]}
    config["input"][0]["data_type"] = "TYPE_FP32"
    io = inputs.model_io("m", None, config)
    with pytest.raises(MeasurementError) as caught:
        inputs.resolve_shapes(io, {})
    hint = re.search(r"shapes=(\{.*?\})", str(caught.value))
    assert hint is not None
    load = build_load_spec({}, {"shapes": ast.literal_eval(hint.group(1))})
    assert inputs.resolve_shapes(io, load.shapes) == {"INPUT0": (4,)}


def test_user_shapes_must_fit_the_model(io):
    shapes = inputs.resolve_shapes(io, {"IMG": (3, 10)})
    assert shapes == {"IMG": (3, 10), "IDS": (4,), "TXT": (2,)}  # optional input left out
    with pytest.raises(MeasurementError, match=r"is \[4, 10\], but the model takes \[3, -1\]"):
        inputs.resolve_shapes(io, {"IMG": (4, 10)})
    with pytest.raises(MeasurementError, match="does not have"):
        inputs.resolve_shapes(io, {"NOPE": (1,)})


def test_generated_data_is_seeded_and_typed(io):
    shapes = inputs.resolve_shapes(io, {"IMG": (3, 5)})
    a = inputs.generated_samples(io, shapes, "random", seed=3)
    b = inputs.generated_samples(io, shapes, "random", seed=3)
    assert len(a) == 4  # small tensors: several distinct requests
    assert a[0]["IMG"].dtype == np.float32 and a[0]["IMG"].shape == (3, 5)
    assert a[0]["IDS"].dtype == np.int64 and a[0]["TXT"].dtype == object
    assert np.array_equal(a[0]["IMG"], b[0]["IMG"]) and not np.array_equal(a[0]["IMG"], a[1]["IMG"])
    zeros = inputs.generated_samples(io, shapes, "zero", seed=3)
    assert not zeros[0]["IMG"].any()


def test_batching_stacks_samples_and_checks_limits(io):
    shapes = inputs.resolve_shapes(io, {"IMG": (3, 5)})
    samples = inputs.generated_samples(io, shapes, "random", seed=0)
    batched = inputs.batched(io, samples, 4)
    assert batched[0]["IMG"].shape == (4, 3, 5)
    with pytest.raises(MeasurementError, match="exceeds the max_batch_size 8 of model 'm'"):
        inputs.batched(io, samples, 9)
    no_batch = inputs.model_io("n", None, dict(CONFIG, max_batch_size=0))
    with pytest.raises(MeasurementError, match="does not batch"):
        inputs.batched(no_batch, samples, 2)


def test_user_arrays_with_a_leading_request_axis(io):
    data = {
        "IMG": np.ones((2, 3, 7), np.float32),  # two requests of 3x7
        "IDS": np.arange(8).reshape(2, 4),
        "TXT": np.array([[b"a", b"b"], [b"c", b"d"]], dtype=object),
    }
    samples = inputs.user_samples(io, data)
    assert len(samples) == 2 and samples[1]["IDS"].tolist() == [4, 5, 6, 7]
    with pytest.raises(MeasurementError, match="input data for input 'IDS'"):
        inputs.user_samples(io, dict(data, IDS=np.zeros((2, 5))))
    with pytest.raises(MeasurementError, match="lacks required input"):
        inputs.user_samples(io, {"IMG": data["IMG"]})


def test_npz_file(io, tmp_path: Path):
    path = tmp_path / "d.npz"
    np.savez(path, IMG=np.ones((3, 2), np.float32), IDS=np.arange(4), TXT=np.array(["x", "y"]))
    samples = inputs.user_samples(io, path)
    assert len(samples) == 1 and samples[0]["IMG"].shape == (3, 2)


def test_perf_analyzer_json(io, tmp_path: Path):
    doc = {
        "data": [
            {
                "IMG": {"content": [1, 2, 3, 4, 5, 6], "shape": [3, 2]},
                "IDS": [1, 2, 3, 4],
                "TXT": ["hello", "world"],
            },
            {
                "IMG": {"b64": base64.b64encode(np.zeros(3, np.float32).tobytes()).decode(),
                        "shape": [3, 1]},
                "IDS": [5, 6, 7, 8],
                "TXT": ["a", "b"],
            },
        ]
    }  # fmt: skip
    path = tmp_path / "data.json"
    path.write_text(json.dumps(doc))
    samples = inputs.user_samples(io, path)
    assert samples[0]["IMG"].tolist() == [[1, 2], [3, 4], [5, 6]]
    assert samples[0]["TXT"].tolist() == [b"hello", b"world"]
    assert samples[1]["IMG"].shape == (3, 1)
    path.write_text(json.dumps({"data": [{"IMG": [1, 2, 3]}]}))
    with pytest.raises(MeasurementError, match="dynamic dims"):
        inputs.user_samples(io, path)
    path.write_text(
        json.dumps({"data": [{"IDS": [1, 2, 3], "IMG": {"content": [1], "shape": [3, 1]}}]})
    )
    with pytest.raises(MeasurementError, match="do not fill"):
        inputs.user_samples(io, path)


def test_bytes_wire_format():
    arr = np.array([b"ab", b""], dtype=object)
    assert inputs.raw_bytes("BYTES", arr) == b"\x02\x00\x00\x00ab\x00\x00\x00\x00"
    assert inputs.raw_bytes("INT32", np.array([1], np.int32)) == b"\x01\x00\x00\x00"


def test_grpc_message_decodes_to_the_request(io):
    from tritonclient.grpc import service_pb2

    shapes = inputs.resolve_shapes(io, {"IMG": (3, 2)})
    reqs = inputs.batched(io, inputs.generated_samples(io, shapes, "random", 0), 2)
    message = inputs.grpc_messages(io, reqs[:1])[0]
    assert message[0] == 0 and int.from_bytes(message[1:5], "big") == len(message) - 5
    decoded = service_pb2.ModelInferRequest.FromString(message[5:])
    assert decoded.model_name == "m"
    assert [(i.name, i.datatype, list(i.shape)) for i in decoded.inputs] == [
        ("IMG", "FP32", [2, 3, 2]), ("IDS", "INT64", [2, 4]), ("TXT", "BYTES", [2, 2]),
    ]  # fmt: skip
    img = np.frombuffer(decoded.raw_input_contents[0], np.float32).reshape(2, 3, 2)
    assert np.array_equal(img, reqs[0]["IMG"])


def test_http_request_is_triton_binary_extension(io):
    shapes = inputs.resolve_shapes(io, {"IMG": (3, 1)})
    reqs = inputs.batched(io, inputs.generated_samples(io, shapes, "zero", 0), 1)
    raw = inputs.http_messages(io, reqs[:1], "127.0.0.1:8000")[0]
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v2/models/m/infer HTTP/1.1"
    fields = dict(line.split(": ", 1) for line in lines[1:])
    assert int(fields["Content-Length"]) == len(body)
    json_len = int(fields["Inference-Header-Content-Length"])
    header = json.loads(body[:json_len])
    assert header["parameters"] == {"binary_data_output": True}
    sizes = [i["parameters"]["binary_data_size"] for i in header["inputs"]]
    assert sum(sizes) == len(body) - json_len
    assert sizes[0] == 3 * 4 and header["inputs"][0]["shape"] == [1, 3, 1]


def test_http_response_framing():
    ok = bytearray(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 4")
    assert parse_response(ok) == (200, b"abc", len(ok) - len(b"HTTP/1.1 4"))
    assert parse_response(bytearray(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")) is None
    assert parse_response(bytearray(b"HTTP/1.1 200 OK\r\nContent-")) is None
    chunked = bytearray(
        b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"err\r\n9\r\nor": "x"}\r\n0\r\n\r\n'
    )
    status, body, used = parse_response(chunked)
    assert status == 400 and json.loads(body) == {"error": "x"} and used == len(chunked)
