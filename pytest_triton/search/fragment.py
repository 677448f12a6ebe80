"""A config as people read it: one line for tables ("max_batch_size 8, instance_group count 2")
and a config.pbtxt fragment ready to paste (protobuf's own text format of Triton's message)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def describe(override: Mapping[str, Any]) -> str:
    """One line: each top-level field and its values; 'as committed' for no override."""
    if not override:
        return "as committed"
    return ", ".join(_field(str(k), v) for k, v in override.items())


def describe_point(point: Mapping[str, Any]) -> str:
    """A search's point: its config and, when the space sweeps it, its batch size."""
    text = describe(point["config"])
    if point.get("batch_size") is not None:
        text += f", batch size {point['batch_size']}"
    return text


def _field(name: str, value: Any) -> str:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], Mapping):
        value = value[0]  # one instance group reads as the group
    if isinstance(value, Mapping):
        if not value:
            return f"{name} on"
        inner = " ".join(_field(str(k), v) for k, v in value.items())
        return f"{name} {inner}"
    if isinstance(value, list):
        return f"{name} [{', '.join(_field('', v).strip() for v in value)}]"
    if isinstance(value, bool):
        return f"{name} {str(value).lower()}"
    return f"{name} {value}".strip()


def pbtxt(override: Mapping[str, Any]) -> str:
    """The override as config.pbtxt text (fields replace the same top-level fields)."""
    from google.protobuf import json_format, text_format
    from tritonclient.grpc import model_config_pb2

    message = json_format.ParseDict(dict(override), model_config_pb2.ModelConfig())
    return str(text_format.MessageToString(message))
