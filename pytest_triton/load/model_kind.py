"""How a kind of model is driven, checked against what the user asked before any load starts:
over gRPC streams (decoupled models) or unary calls, and in sequences (sequence-batched
models)."""

from __future__ import annotations

from pytest_triton.errors import ConfigError
from pytest_triton.spec import LoadSpec

from .inputs import ModelIO

# What sequence models' control inputs are called in Triton's docs and examples.
SEQUENCE_CONTROLS = frozenset({"START", "END", "READY", "CORRID", "SEQUENCE_START", "SEQUENCE_END"})


def use_streaming(io: ModelIO, load: LoadSpec) -> bool:
    """True for a decoupled model. A decoupled model answers a request with any number of
    responses, which only Triton's streaming call carries; a model that is not answers with
    exactly one, so streaming it would report one "token" per request as if it were an LLM."""
    wanted = io.decoupled if load.streaming is None else load.streaming
    if io.decoupled and not wanted:
        raise ConfigError(
            f"model {io.name!r} is decoupled (model_transaction_policy {{ decoupled: true }}): "
            "Triton serves it only over gRPC streaming; drop streaming=False"
        )
    if wanted and not io.decoupled:
        raise ConfigError(
            f"streaming=True, but model {io.name!r} is not decoupled: it answers each request "
            "once, so there are no tokens to time; drop streaming=True, or measure a model "
            "whose config sets model_transaction_policy { decoupled: true }"
        )
    if wanted and load.protocol != "grpc":
        raise ConfigError(
            f"model {io.name!r} is decoupled: its responses stream over gRPC only; "
            f"use protocol='grpc' (not {load.protocol!r})"
        )
    return wanted


def sequence_length(io: ModelIO, load: LoadSpec) -> int:
    """Requests per sequence for a sequence-batched model (0 for any other): each load slot
    sends whole sequences, so concurrency is concurrent sequences."""
    if not io.sequence_batching:
        return 0
    looks_like_control = [t.name for t in io.inputs if t.name.upper() in SEQUENCE_CONTROLS]
    if looks_like_control:
        raise ConfigError(
            f"model {io.name!r} is sequence-batched, and its input(s) "
            f"{', '.join(looks_like_control)} look like the sequence batcher's controls: declare "
            "them under sequence_batching { control_input [...] } so Triton sets them from each "
            "request's sequence flags; as plain inputs they would get generated data"
        )
    if load.request_rate:
        raise ConfigError(
            f"model {io.name!r} is sequence-batched: load it with concurrency (concurrent "
            "sequences), not request_rate"
        )
    if load.protocol != "grpc":
        raise ConfigError(
            f"model {io.name!r} is sequence-batched: its sequences are sent over gRPC; use "
            f"protocol='grpc' (not {load.protocol!r})"
        )
    if load.driver != "native":
        raise ConfigError(
            f"model {io.name!r} is sequence-batched: use the native driver (the default)"
        )
    return load.sequence_length
