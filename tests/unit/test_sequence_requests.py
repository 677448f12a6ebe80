"""Sequence requests without a server: the parameters appended to a pre-built request are the
ones Triton's protobuf reads, and each load slot runs whole sequences with ids of its own."""

from __future__ import annotations

from pytest_triton.load.native.sequences import Sequences, sequence_parameters


def _parameters(message: bytes) -> dict[str, object]:
    from tritonclient.grpc import service_pb2

    request = service_pb2.ModelInferRequest.FromString(message[5:])
    out: dict[str, object] = {}
    for key, value in request.parameters.items():
        out[key] = getattr(value, value.WhichOneof("parameter_choice"))
    assert request.model_name == "acc"  # the pre-built part is untouched
    return out


def _body() -> bytes:
    from tritonclient.grpc import service_pb2

    return service_pb2.ModelInferRequest(model_name="acc").SerializeToString()


def test_the_appended_parameters_are_what_protobuf_reads() -> None:
    from tritonclient.grpc import service_pb2

    for sequence_id in (1, 127, 128, 2**40 + 5):
        ours = _body() + sequence_parameters(sequence_id, start=True, end=False)
        parsed = service_pb2.ModelInferRequest.FromString(ours)
        assert parsed.parameters["sequence_id"].int64_param == sequence_id
        assert parsed.parameters["sequence_start"].bool_param is True
        assert "sequence_end" not in parsed.parameters


def test_each_slot_sends_whole_sequences_with_ids_no_other_open_sequence_has() -> None:
    sequences = Sequences(length=3, first_id=1000)
    sent = {
        slot: [_parameters(sequences.request(slot, _body())) for _ in range(6)] for slot in (0, 1)
    }
    for requests in sent.values():
        ids = [r["sequence_id"] for r in requests]
        assert ids[0] == ids[1] == ids[2] != ids[3] == ids[4] == ids[5]
        assert [bool(r.get("sequence_start")) for r in requests] == [True, False, False] * 2
        assert [bool(r.get("sequence_end")) for r in requests] == [False, False, True] * 2
    all_ids = {r["sequence_id"] for requests in sent.values() for r in requests}
    assert all_ids == {1000, 1001, 1002, 1003}
    # a slot is open mid-sequence (a stopped step finishes it), closed between sequences
    assert not sequences.open(0)
    sequences.request(0, _body())
    assert sequences.open(0)


def test_a_sequence_of_one_is_both_start_and_end() -> None:
    params = _parameters(Sequences(length=1, first_id=7).request(0, _body()))
    assert params == {"sequence_id": 7, "sequence_start": True, "sequence_end": True}


def test_a_sequence_model_whose_controls_are_plain_inputs_is_refused() -> None:
    import pytest

    from pytest_triton.errors import ConfigError
    from pytest_triton.load.inputs import ModelIO, TensorSpec
    from pytest_triton.load.model_kind import sequence_length
    from pytest_triton.spec import LoadSpec

    controls_declared = ModelIO(
        "acc", None, 0, (TensorSpec("INPUT0", "INT32", (1,)),), (), sequence_batching=True
    )
    assert sequence_length(controls_declared, LoadSpec(sequence_length=7)) == 7
    undeclared = ModelIO(
        "acc",
        None,
        0,
        (TensorSpec("INPUT0", "INT32", (1,)), TensorSpec("START", "INT32", (1,))),
        (),
        sequence_batching=True,
    )
    with pytest.raises(ConfigError, match=r"START look like the sequence batcher's controls"):
        sequence_length(undeclared, LoadSpec())


def test_sequence_lengths_vary_within_the_asked_percentage() -> None:
    sequences = Sequences(length=10, first_id=1, variation=50, seed=3)
    lengths: list[int] = []
    for _ in range(40):
        params = _parameters(sequences.request(0, _body()))
        n = 1
        while not params.get("sequence_end"):
            params = _parameters(sequences.request(0, _body()))
            n += 1
        lengths.append(n)
    assert min(lengths) >= 5 and max(lengths) <= 15 and len(set(lengths)) > 3
    assert Sequences(length=10, first_id=1).length == 10
