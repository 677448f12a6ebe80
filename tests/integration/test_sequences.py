"""Sequence-batched (stateful) models against the real bundled tritonserver: a python model
that accumulates per correlation id, fails any request outside its sequence, and logs each
finished sequence, so ids and START/END flags under concurrency are checked by the model
itself."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from bundled_support import NEEDS_BUNDLED_SERVER, QUICK, serving

from pytest_triton.errors import ConfigError
from pytest_triton.load.engine import measure
from pytest_triton.server.local import LocalServer
from pytest_triton.spec import LoadSpec

pytestmark = NEEDS_BUNDLED_SERVER

CONFIG = """\
backend: "python"
max_batch_size: 0
sequence_batching {
  max_sequence_idle_microseconds: 5000000
  control_input [
    { name: "START", control [ { kind: CONTROL_SEQUENCE_START, int32_false_true: [ 0, 1 ] } ] },
    { name: "END", control [ { kind: CONTROL_SEQUENCE_END, int32_false_true: [ 0, 1 ] } ] },
    { name: "CORRID", control [ { kind: CONTROL_SEQUENCE_CORRID, data_type: TYPE_UINT64 } ] }
  ]
}
input [ { name: "INPUT0", data_type: TYPE_INT32, dims: [ 1 ] } ]
output [ { name: "COUNT", data_type: TYPE_INT32, dims: [ 1 ] } ]
instance_group [ { kind: KIND_CPU, count: 2 } ]
parameters { key: "LOG", value { string_value: "%s" } }
"""

MODEL = """
import json
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"])["parameters"]
        self.log = params["LOG"]["string_value"]
        self.open = {}

    def execute(self, requests):
        responses = []
        for request in requests:
            get = lambda name: pb_utils.get_input_tensor_by_name(request, name).as_numpy()
            corrid = int(get("CORRID").reshape(-1)[0])
            start, end = bool(get("START").reshape(-1)[0]), bool(get("END").reshape(-1)[0])
            time.sleep(0.002)
            if start and corrid in self.open:
                error = f"sequence {corrid} started twice"
            elif not start and corrid not in self.open:
                error = f"request outside a sequence (id {corrid})"
            else:
                error = None
            if error:
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(error)))
                continue
            if start and self.open:
                # one sequence at a time per instance: an open one here was abandoned
                with open(self.log, "a") as log:
                    log.write(f"abandoned {sorted(self.open)}\\n")
                self.open.clear()
            count = 1 if start else self.open[corrid] + 1
            self.open[corrid] = count
            if end:
                del self.open[corrid]
                with open(self.log, "a") as log:
                    log.write(f"{corrid} {count}\\n")
            out = pb_utils.Tensor("COUNT", np.array([count], dtype=np.int32))
            responses.append(pb_utils.InferenceResponse([out]))
        return responses
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, Path]]:
    repo = tmp_path_factory.mktemp("sequence-models")
    log = tmp_path_factory.mktemp("sequence-log") / "sequences.log"
    (repo / "accumulate" / "1").mkdir(parents=True)
    (repo / "accumulate" / "config.pbtxt").write_text(CONFIG % log)
    (repo / "accumulate" / "1" / "model.py").write_text(textwrap.dedent(MODEL))
    with serving(repo, tmp_path_factory.mktemp("sequence-server"), ("accumulate",)) as srv:
        yield srv, log


def test_concurrent_sequences_keep_their_ids_and_flags_and_each_ends(
    served: tuple[LocalServer, Path],
) -> None:
    server, log = served
    m = measure(
        server.endpoints,
        "accumulate",
        None,
        LoadSpec(concurrency=(1, 4), sequence_length=5, **QUICK),
        is_alive=server.is_alive,
    )
    for step in m.steps:
        # the model fails any request outside its sequence: none did
        assert step.errors == 0 and step.errors_outside == 0, step.error_samples
        assert step.requests > 0
    lines = log.read_text().splitlines()
    assert not [line for line in lines if line.startswith("abandoned")], lines
    first, *finished = [line.split() for line in lines]
    assert first == ["1", "1"]  # the request checked before load: a sequence of one
    ids = [int(corrid) for corrid, _ in finished]
    # every sequence ran its 5 requests, START to END, under one id no other sequence had;
    # a step's last sequences were finished, not left open
    assert finished and all(int(count) == 5 for _, count in finished)
    assert len(ids) == len(set(ids))
    sent = sum(s.requests for s in m.steps)
    assert len(finished) * 5 >= sent


def test_sequences_are_refused_where_they_cannot_be_sent(
    served: tuple[LocalServer, Path],
) -> None:
    server, _ = served
    with pytest.raises(ConfigError, match="concurrent sequences"):
        measure(server.endpoints, "accumulate", None, LoadSpec(request_rate=(50.0,), **QUICK))
    with pytest.raises(ConfigError, match="use protocol='grpc'"):
        measure(server.endpoints, "accumulate", None, LoadSpec(protocol="http", **QUICK))
