"""Stateful (sequence-batched) models: each load slot sends sequences of requests, as
perf_analyzer's --sequence-length does.

A sequence is `length` requests with one correlation id: the first flagged START, the last END.
Concurrency is concurrent sequences: slot k of a worker runs one sequence at a time, and each
new sequence takes the worker's next id, so no two open sequences share one. When a step stops,
a slot finishes the sequence it is in rather than leave it open on the server, where it would
hold a sequence slot until its idle timeout.

The flags travel as the request's parameters ("sequence_id", "sequence_start",
"sequence_end"), appended to the pre-built request: protobuf lets a map's entries come after
the message's other fields, so only these few bytes are built per send.
"""

from __future__ import annotations

import random

from .h2grpc import grpc_message

_PARAMETERS_FIELD = 0x22  # ModelInferRequest.parameters (field 4, length-delimited)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _entry(key: bytes, parameter: bytes) -> bytes:
    """One map entry: key (field 1) and an InferParameter message (field 2)."""
    body = b"\x0a" + _varint(len(key)) + key + b"\x12" + _varint(len(parameter)) + parameter
    return bytes((_PARAMETERS_FIELD,)) + _varint(len(body)) + body


_START = _entry(b"sequence_start", b"\x08\x01")  # InferParameter.bool_param (field 1) = true
_END = _entry(b"sequence_end", b"\x08\x01")


def sequence_parameters(sequence_id: int, start: bool, end: bool) -> bytes:
    """The serialized parameters of one request of a sequence."""
    out = _entry(b"sequence_id", b"\x10" + _varint(sequence_id))  # int64_param (field 2)
    if start:
        out += _START
    if end:
        out += _END
    return out


class Sequences:
    """Per slot, the sequence it is in: which id, how long, how far along.

    With `variation` (a percentage, perf_analyzer's --sequence-length-variation), each
    sequence's length is drawn uniformly within that much of `length` (at least 1)."""

    def __init__(self, length: int, first_id: int, variation: float = 0.0, seed: int = 0) -> None:
        self.length = length
        self._variation = variation / 100.0
        self._random = random.Random(seed)
        self._next_id = first_id
        self._ids: dict[int, int] = {}  # slot -> its open sequence's id
        self._lengths: dict[int, int] = {}  # slot -> its open sequence's length
        self._sent: dict[int, int] = {}  # slot -> requests of it sent so far

    def _draw_length(self) -> int:
        if not self._variation:
            return self.length
        spread = self.length * self._variation
        return max(1, round(self.length + self._random.uniform(-spread, spread)))

    def request(self, slot: int, body: bytes) -> bytes:
        """The slot's next request (a pre-built ModelInferRequest without its gRPC prefix)."""
        sent = self._sent.get(slot, 0)
        if sent == 0:
            self._ids[slot] = self._next_id
            self._next_id += 1
            self._lengths[slot] = self._draw_length()
        last = sent + 1 == self._lengths[slot]
        self._sent[slot] = 0 if last else sent + 1
        return grpc_message(body + sequence_parameters(self._ids[slot], sent == 0, last))

    def open(self, slot: int) -> bool:
        """Whether the slot is inside a sequence (its next request would not start one)."""
        return self._sent.get(slot, 0) != 0
