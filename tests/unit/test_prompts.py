"""Prompts for text models without a server: synthetic lengths, prompt files and their errors,
and the requests they become (the text in the model's text input, the output length in its
max_tokens input)."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from pytest_triton.errors import ConfigError, MeasurementError
from pytest_triton.load.inputs import ModelIO, TensorSpec, grpc_messages
from pytest_triton.load.points import validate_load_spec
from pytest_triton.load.prompts import Synthetic, read_prompts, synthetic_prompts, text_samples
from pytest_triton.spec import LoadSpec

LLM = ModelIO(
    "llm",
    None,
    0,
    (
        TensorSpec("text_input", "BYTES", (1,)),
        TensorSpec("max_tokens", "INT32", (1,)),
        TensorSpec("stream", "BOOL", (1,)),
    ),
    ("text_output",),
    decoupled=True,
)


def test_synthetic_prompts_follow_the_asked_length_distribution() -> None:
    lengths = [len(p.split()) for p in synthetic_prompts(Synthetic(128, 16), seed=0, count=400)]
    assert 124 <= statistics.mean(lengths) <= 132
    assert 13 <= statistics.stdev(lengths) <= 19
    assert synthetic_prompts(Synthetic(5), seed=1) == synthetic_prompts(Synthetic(5), seed=1)
    assert {len(p.split()) for p in synthetic_prompts(Synthetic(5), seed=1)} == {5}


def test_prompt_files_are_read_and_their_mistakes_named(tmp_path: Path) -> None:
    jsonl = tmp_path / "prompts.jsonl"
    jsonl.write_text('{"text_input": "hello there"}\n\n{"prompt": "second one"}\n')
    assert read_prompts(jsonl) == ["hello there", "second one"]
    lines = tmp_path / "prompts.txt"
    lines.write_text("one prompt\n  \nanother prompt\n")
    assert read_prompts(lines) == ["one prompt", "another prompt"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text_input": "fine"}\n{"text_input": \n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:2: not JSON"):
        validate_load_spec(LoadSpec(prompts=str(bad)))
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"question": "what?"}\n')
    with pytest.raises(ConfigError, match=r"wrong.jsonl:1: expected an object with a string"):
        validate_load_spec(LoadSpec(prompts=str(wrong)))
    with pytest.raises(ConfigError, match="no such file"):
        validate_load_spec(LoadSpec(prompts=str(tmp_path / "missing.jsonl")))
    with pytest.raises(ConfigError, match="write synthetic:MEAN or synthetic:MEAN,SD"):
        validate_load_spec(LoadSpec(prompts="synthetic:long"))
    with pytest.raises(ConfigError, match="output_tokens 0 must be >= 1"):
        validate_load_spec(LoadSpec(output_tokens=0))


def test_the_prompt_and_the_output_length_go_into_the_models_inputs() -> None:
    from tritonclient.grpc import service_pb2

    samples = text_samples(LLM, LoadSpec(prompts="synthetic:8,2", output_tokens=24))
    assert len(samples) == 64
    assert all(s["max_tokens"].tolist() == [24] for s in samples)
    assert all(s["stream"].dtype == bool for s in samples)  # other inputs: generated
    (message,) = grpc_messages(LLM, samples[:1])
    request = service_pb2.ModelInferRequest.FromString(message[5:])
    by_name = dict(zip((i.name for i in request.inputs), request.raw_input_contents, strict=True))
    text = by_name["text_input"]
    assert int.from_bytes(text[:4], "little") == len(text) - 4  # Triton's BYTES encoding
    assert text[4:].decode() == samples[0]["text_input"][0].decode()
    assert int.from_bytes(by_name["max_tokens"], "little") == 24


def test_a_model_without_the_inputs_prompts_need_is_told_which_it_has() -> None:
    numbers = ModelIO("mlp", None, 0, (TensorSpec("INPUT0", "FP32", (16,)),), ())
    with pytest.raises(MeasurementError, match=r"no BYTES input \(its inputs: INPUT0 \(FP32\)\)"):
        text_samples(numbers, LoadSpec(prompts="synthetic:8"))
    with pytest.raises(MeasurementError, match="output_tokens needs an integer input"):
        text_samples(numbers, LoadSpec(output_tokens=8))
