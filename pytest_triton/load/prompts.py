"""Prompts for text (LLM) models, as genai-perf's inputs: read from a file, or synthetic prompts
whose lengths follow a normal distribution; and the output length each request asks for.

`prompts="synthetic:128,16"` makes prompts of 128 words on average (SD 16); `prompts=PATH`
reads a .jsonl file (one object a line, its "text_input", "prompt" or "text") or a text file
(one prompt a line). The prompt goes to the model's text input: the BYTES input named like an
LLM's (text_input, prompt, ...), or its only BYTES input. `output_tokens=N` sets the input that
takes the output length (max_tokens, max_new_tokens, request_output_len, ...).

Lengths are in words, not tokens: the model's tokenizer is unknown here, and for English text
a word is about 1.3 tokens. Other inputs get generated data as for any model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_triton.errors import ConfigError, MeasurementError
from pytest_triton.spec import LoadSpec

from .inputs import ModelIO, TensorSpec, generated_samples, resolve_shapes

if TYPE_CHECKING:
    from .inputs import Array

PROMPT_INPUTS = ("text_input", "prompt", "PROMPT", "text", "TEXT", "input_text", "TEXT_INPUT")
OUTPUT_LENGTH_INPUTS = (
    "max_tokens", "max_new_tokens", "request_output_len", "output_len", "MAX_TOKENS",
)  # fmt: skip
JSONL_KEYS = ("text_input", "prompt", "text")
# Synthetic prompts: this many distinct ones, sent round robin (as generated tensors are).
DISTINCT_PROMPTS = 64
# A small fixed vocabulary: what matters to a model's speed is the prompt's length.
_VOCABULARY = (
    "the", "model", "serves", "each", "request", "as", "it", "comes", "and", "streams",
    "words", "of", "its", "answer", "back", "to", "whoever", "asked", "while", "next",
    "prompt", "waits", "in", "queue", "for", "a", "free", "instance", "server",
)  # fmt: skip
_SYNTHETIC = re.compile(r"^synthetic:(\d+)(?:,(\d+))?$")


@dataclass(frozen=True)
class Synthetic:
    mean_words: int
    stddev_words: int = 0


def parse_prompts(spec: str) -> Synthetic | Path:
    """'synthetic:MEAN[,SD]' or a prompt file's path; ConfigError naming the fix."""
    match = _SYNTHETIC.match(spec.strip())
    if match:
        mean, sd = int(match[1]), int(match[2] or 0)
        if mean < 1:
            raise ConfigError(f"prompts={spec!r}: the mean length must be at least 1 word")
        return Synthetic(mean, sd)
    if spec.startswith("synthetic"):
        raise ConfigError(
            f"prompts={spec!r}: write synthetic:MEAN or synthetic:MEAN,SD in words, "
            "e.g. synthetic:128,16"
        )
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(
            f"prompts={spec!r}: no such file; give a .jsonl or text file of prompts, or "
            "synthetic:MEAN,SD"
        )
    return path


def read_prompts(path: Path) -> list[str]:
    """A file's prompts: .jsonl objects' JSONL_KEYS, else one prompt a non-empty line."""
    text = path.read_text(encoding="utf-8", errors="replace")
    prompts: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if path.suffix != ".jsonl":
            prompts.append(line.strip())
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not JSON ({exc.msg})") from None
        found = [entry[k] for k in JSONL_KEYS if isinstance(entry, dict) and k in entry]
        if not found or not isinstance(found[0], str):
            raise ConfigError(
                f"{path}:{number}: expected an object with a string {' / '.join(JSONL_KEYS)}"
            )
        prompts.append(found[0])
    if not prompts:
        raise ConfigError(f"{path}: no prompts in it")
    return prompts


def synthetic_prompts(source: Synthetic, seed: int, count: int = DISTINCT_PROMPTS) -> list[str]:
    """`count` prompts of normally distributed word counts (at least one word each)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lengths = rng.normal(source.mean_words, source.stddev_words, size=count)
    words = np.array(_VOCABULARY)
    return [" ".join(words[rng.integers(0, len(words), size=max(1, round(n)))]) for n in lengths]


def validate_text_load(load: LoadSpec) -> None:
    """What can be checked without the server (at collection)."""
    if load.prompts is not None:
        source = parse_prompts(load.prompts)
        if isinstance(source, Path):
            read_prompts(source)
    if load.output_tokens is not None and load.output_tokens < 1:
        raise ConfigError(f"output_tokens {load.output_tokens} must be >= 1")
    if load.prompts is not None and load.input_data not in ("random", "zero"):
        raise ConfigError(
            f"prompts and input_data={load.input_data!r} both say what to send: pick one"
        )
    if load.driver != "native":
        raise ConfigError("prompts and output_tokens need the native driver (the default)")


def text_samples(io: ModelIO, load: LoadSpec) -> list[dict[str, Array]]:
    """Per-request tensors with the prompts and the output length in their inputs."""
    import numpy as np

    text = _prompt_input(io) if load.prompts is not None else None
    length = _length_input(io) if load.output_tokens is not None else None
    own = {t.name for t in (text, length) if t is not None}
    others = replace(io, inputs=tuple(t for t in io.inputs if t.name not in own))
    shapes = resolve_shapes(others, load.shapes)
    base = generated_samples(others, shapes, load.input_data, load.seed)
    prompts: list[str] = [""]
    if load.prompts is not None:
        source = parse_prompts(load.prompts)
        prompts = (
            read_prompts(source)
            if isinstance(source, Path)
            else synthetic_prompts(source, load.seed)
        )
    samples = []
    for i in range(max(len(prompts), len(base))):
        sample = dict(base[i % len(base)])
        if text is not None:
            sample[text.name] = np.array(
                [prompts[i % len(prompts)].encode()], dtype=object
            ).reshape(_one(text))
        if length is not None:
            dtype = "int64" if length.datatype == "INT64" else "int32"
            sample[length.name] = np.full(_one(length), load.output_tokens, dtype=dtype)
        samples.append(sample)
    return samples


def _one(t: TensorSpec) -> tuple[int, ...]:
    """One element's shape for a text or length input ([1], [-1] or [1, 1]...)."""
    return tuple(1 for _ in t.dims) or (1,)


def _prompt_input(io: ModelIO) -> TensorSpec:
    texts = [t for t in io.inputs if t.datatype == "BYTES"]
    named = [t for t in texts if t.name in PROMPT_INPUTS]
    if named:
        return named[0]
    if len(texts) == 1:
        return texts[0]
    raise MeasurementError(
        f"prompts need a text input: model {io.name!r} has "
        + (
            f"several BYTES inputs ({', '.join(t.name for t in texts)}), none named "
            f"{' / '.join(PROMPT_INPUTS[:3])}"
            if texts
            else f"no BYTES input (its inputs: {_names(io)})"
        )
    )


def _length_input(io: ModelIO) -> TensorSpec:
    for t in io.inputs:
        if t.name in OUTPUT_LENGTH_INPUTS and t.datatype in ("INT32", "INT64"):
            return t
    raise MeasurementError(
        f"output_tokens needs an integer input that takes the output length "
        f"({', '.join(OUTPUT_LENGTH_INPUTS)}); model {io.name!r} has {_names(io)}"
    )


def _names(io: ModelIO) -> str:
    return ", ".join(f"{t.name} ({t.datatype})" for t in io.inputs) or "no inputs"
