"""Search spaces in Model Analyzer's syntax: the config overrides and load settings a search tries.

Model Analyzer's `model_config_parameters` name ModelConfig fields, and a field's value says
what to sweep:

* a scalar field (max_batch_size, count, max_queue_delay_microseconds): a list is the values to
  try, and so is a range `{start, stop, step}` (step 1 by default; stop is always tried, as in
  Model Analyzer: start 2, stop 64, step 8 tries 2, 10, ..., 58, 64); anything else is the one
  value;
* a repeated field (instance_group, preferred_batch_size): a list is the one value and a list
  of lists the values to try (Model Analyzer's rule: a field that takes a list needs a list of
  them to sweep);
* a message field (dynamic_batching) is a mapping whose fields follow the same rules, and so
  is each element of a repeated message field: `instance_group: [{kind: KIND_CPU, count:
  [1, 2, 4]}]` sweeps the count of one group. A list of mappings tries each.

The sweep is the cartesian product of the swept fields, in the order they are written (the
first varies slowest). Which field is which kind comes from Triton's own ModelConfig message
(tritonclient's model_config_pb2), so every field Triton has can be searched, and a field it
does not have is an error that names it and where it is.

Load parameters (`parameters`: concurrency, batch_sizes, request_rate) take a list, a
comma-delimited string or a range.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_triton.errors import ConfigError

if TYPE_CHECKING:
    from google.protobuf.descriptor import Descriptor, FieldDescriptor

RANGE_KEYS = frozenset({"start", "stop", "step"})
LOAD_KEYS = ("concurrency", "batch_sizes", "request_rate")
# A space beyond this many configs is almost surely a mistake (a range with step 1 where
# powers of two were meant): brute force would measure for days.
MAX_CONFIGS = 10_000


class SearchSpaceError(ConfigError):
    """A search space that cannot be searched: says where in it and what to write instead."""


@dataclass(frozen=True)
class LoadSpace:
    """The load settings each config is measured at (empty: the test's own)."""

    concurrency: tuple[int, ...] = ()
    batch_sizes: tuple[int, ...] = ()
    request_rate: tuple[float, ...] = ()


@dataclass(frozen=True)
class SearchSpace:
    """The config overrides a search may measure, in order, and the load they share."""

    configs: tuple[Mapping[str, Any], ...]
    load: LoadSpace = field(default_factory=LoadSpace)

    def __len__(self) -> int:
        return len(self.configs)


def parse_space(
    model_config_parameters: Mapping[str, Any] | None,
    parameters: Mapping[str, Any] | None = None,
    where: str = "search space",
) -> SearchSpace:
    """The space of a `model_config_parameters` mapping and a `parameters` mapping (either may
    be None). Raises SearchSpaceError naming the place (`where`, then the field path)."""
    configs: list[Mapping[str, Any]] = [{}]
    if model_config_parameters is not None:
        configs = list(expand_config(model_config_parameters, where))
    load = parse_load(parameters or {}, where)
    return SearchSpace(tuple(configs), load)


def expand_config(space: Mapping[str, Any], where: str = "search space") -> list[dict[str, Any]]:
    """Every config override a `model_config_parameters` mapping sweeps (module docstring)."""
    from tritonclient.grpc import model_config_pb2

    configs = _message(space, model_config_pb2.ModelConfig.DESCRIPTOR, (where,))
    for config in configs:
        _check_parses(config, where)
    return configs


def parse_load(parameters: Mapping[str, Any], where: str = "search space") -> LoadSpace:
    """Model Analyzer's `parameters`: concurrency, batch_sizes, request_rate."""
    if not isinstance(parameters, Mapping):
        raise SearchSpaceError(
            f"{where} parameters: expected a mapping of {', '.join(LOAD_KEYS)}, got "
            f"{_kind(parameters)}"
        )
    unknown = sorted(set(parameters) - set(LOAD_KEYS))
    if unknown:
        raise SearchSpaceError(
            f"{where} parameters: unknown key(s) {', '.join(map(str, unknown))}; known: "
            f"{', '.join(LOAD_KEYS)}"
        )
    values: dict[str, tuple[float, ...]] = {}
    for key, value in parameters.items():
        path = (where, "parameters", key)
        items = _load_values(value, path)
        whole = key != "request_rate"
        for item in items:
            if item <= 0 or (whole and item != int(item)):
                kind = "whole number" if whole else "number"
                raise SearchSpaceError(f"{_at(path)}: {item:g} is not a positive {kind}")
        values[key] = items
    if values.get("concurrency") and values.get("request_rate"):
        raise SearchSpaceError(
            f"{where} parameters: concurrency and request_rate exclude each other (a closed or "
            "an open loop): give one"
        )
    return LoadSpace(
        tuple(int(v) for v in values.get("concurrency", ())),
        tuple(int(v) for v in values.get("batch_sizes", ())),
        tuple(float(v) for v in values.get("request_rate", ())),
    )


def range_values(spec: Mapping[str, Any], path: Sequence[str]) -> list[float]:
    """A `{start, stop, step}` range: start, start + step, ... up to stop, and stop itself."""
    unknown = sorted(set(map(str, spec)) - RANGE_KEYS)
    if unknown or "start" not in spec or "stop" not in spec:
        raise SearchSpaceError(
            f"{_at(path)}: a range needs start and stop (and optionally step), got keys "
            f"{', '.join(map(str, spec)) or 'none'}"
        )
    start, stop, step = spec["start"], spec["stop"], spec.get("step", 1)
    for name, number in (("start", start), ("stop", stop), ("step", step)):
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise SearchSpaceError(f"{_at(path)}: range {name} must be a number, got {number!r}")
    if step <= 0:
        raise SearchSpaceError(f"{_at(path)}: range step must be > 0, got {step}")
    if stop < start:
        raise SearchSpaceError(f"{_at(path)}: range stop {stop} is below its start {start}")
    count = int((stop - start) // step) + 1
    if count > MAX_CONFIGS:
        raise SearchSpaceError(f"{_at(path)}: a range of {count} values: raise its step")
    values = [start + i * step for i in range(count)]
    if values[-1] != stop:
        values.append(stop)
    return values


# --- the ModelConfig walk ------------------------------------------------------------------


def _message(value: Any, descriptor: Descriptor, path: tuple[str, ...]) -> list[dict[str, Any]]:
    """A mapping of one message's fields: every combination of each field's alternatives."""
    if not isinstance(value, Mapping):
        raise SearchSpaceError(
            f"{_at(path)}: expected a mapping of {descriptor.name} fields, got {_kind(value)}"
        )
    per_field: list[list[tuple[str, Any]]] = []
    for key, item in value.items():
        field_descriptor = descriptor.fields_by_name.get(str(key))
        if field_descriptor is None:
            known = ", ".join(sorted(descriptor.fields_by_name))
            raise SearchSpaceError(
                f"{_at((*path, str(key)))}: {descriptor.name} has no field {key!r}; its fields "
                f"are {known}"
            )
        alternatives = _field(item, field_descriptor, (*path, str(key)))
        per_field.append([(str(key), a) for a in alternatives])
    count = math.prod(len(alternatives) for alternatives in per_field)
    if count > MAX_CONFIGS:  # counted before the product is built: it could be huge
        raise SearchSpaceError(
            f"{_at(path)}: {count} configs to search, more than {MAX_CONFIGS}: narrow the "
            "ranges (a list of powers of two instead of a range with step 1)"
        )
    return [dict(combination) for combination in itertools.product(*per_field)]


def _field(value: Any, fd: FieldDescriptor, path: tuple[str, ...]) -> list[Any]:
    """The values one field takes across the sweep."""
    if _is_map(fd):
        return _map(value, fd, path)
    if _is_repeated(fd):
        if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
            return [r for i, v in enumerate(value) for r in _repeated(v, fd, (*path, f"[{i}]"))]
        return _repeated(value if isinstance(value, list) else [value], fd, path)
    if fd.type == fd.TYPE_MESSAGE:
        if isinstance(value, list):
            _non_empty(value, path)
            return [m for v in value for m in _message(v, fd.message_type, path)]
        return list(_message(value, fd.message_type, path))
    return _scalar_values(value, fd, path)


def _repeated(elements: list[Any], fd: FieldDescriptor, path: tuple[str, ...]) -> list[Any]:
    """One value of a repeated field (a list), with any sweeps inside its message elements."""
    if fd.type != fd.TYPE_MESSAGE:
        return [[_scalar(e, fd, (*path, f"[{i}]")) for i, e in enumerate(elements)]]
    per_element = [_message(e, fd.message_type, (*path, f"[{i}]")) for i, e in enumerate(elements)]
    return [list(combination) for combination in itertools.product(*per_element)]


def _map(value: Any, fd: FieldDescriptor, path: tuple[str, ...]) -> list[Any]:
    """A map field (parameters): a mapping, or a list of mappings to try each."""
    options = value if isinstance(value, list) else [value]
    _non_empty(options, path)
    value_fd = fd.message_type.fields_by_name["value"]
    out: list[Any] = []
    for option in options:
        if not isinstance(option, Mapping):
            raise SearchSpaceError(f"{_at(path)}: expected a mapping, got {_kind(option)}")
        keys = [str(k) for k in option]
        per_key = [_field(option[k], value_fd, (*path, k)) for k in option]
        out += [dict(zip(keys, c, strict=True)) for c in itertools.product(*per_key)]
    return out


def _scalar_values(value: Any, fd: FieldDescriptor, path: tuple[str, ...]) -> list[Any]:
    if isinstance(value, list):
        _non_empty(value, path)
        return [_scalar(v, fd, path) for v in value]
    if isinstance(value, Mapping) and fd.type != fd.TYPE_MESSAGE:
        return [_scalar(v, fd, path) for v in range_values(value, path)]
    return [_scalar(value, fd, path)]


def _scalar(value: Any, fd: FieldDescriptor, path: tuple[str, ...]) -> Any:
    """One scalar value, checked against the field's type (enum names by name)."""
    if fd.type == fd.TYPE_ENUM:
        names = fd.enum_type.values_by_name
        if not isinstance(value, str) or value not in names:
            raise SearchSpaceError(f"{_at(path)}: {value!r} is not one of {', '.join(names)}")
        return value
    if fd.type == fd.TYPE_BOOL:
        if not isinstance(value, bool):
            raise SearchSpaceError(f"{_at(path)}: expected true or false, got {value!r}")
        return value
    if fd.type == fd.TYPE_STRING:
        if not isinstance(value, str):
            raise SearchSpaceError(f"{_at(path)}: expected a string, got {value!r}")
        return value
    if fd.type in (fd.TYPE_FLOAT, fd.TYPE_DOUBLE):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SearchSpaceError(f"{_at(path)}: expected a number, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise SearchSpaceError(f"{_at(path)}: expected a whole number, got {value!r}")
    return int(value)


def is_map_field(name: str) -> bool:
    """Whether a top-level ModelConfig field is a map (`parameters`): empty, it is absent."""
    from tritonclient.grpc import model_config_pb2

    fd = model_config_pb2.ModelConfig.DESCRIPTOR.fields_by_name.get(name)
    return fd is not None and _is_map(fd)


def _is_map(fd: FieldDescriptor) -> bool:
    return bool(
        fd.type == fd.TYPE_MESSAGE and _is_repeated(fd) and fd.message_type.GetOptions().map_entry
    )


def _is_repeated(fd: FieldDescriptor) -> bool:
    """protobuf 6 has `is_repeated` and deprecates `label`; older ones have only `label`."""
    repeated = getattr(fd, "is_repeated", None)
    if repeated is None:
        return bool(fd.label == fd.LABEL_REPEATED)
    return bool(repeated)


def _check_parses(config: Mapping[str, Any], where: str) -> None:
    """The last word is Triton's message itself (a value out of a field's range...)."""
    from pytest_triton.server.models import config_parse_error

    problem = config_parse_error(config)
    if problem is not None:
        raise SearchSpaceError(f"{where}: the config {dict(config)} is not valid: {problem}")


# --- load parameters -----------------------------------------------------------------------


def _load_values(value: Any, path: tuple[str, ...]) -> tuple[float, ...]:
    if isinstance(value, Mapping):
        return tuple(range_values(value, path))
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        try:
            items: list[Any] = [float(p) for p in parts]
        except ValueError:
            raise SearchSpaceError(
                f"{_at(path)}: {value!r} is not a comma-delimited list of numbers"
            ) from None
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    _non_empty(items, path)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise SearchSpaceError(f"{_at(path)}: expected numbers, got {item!r}")
    return tuple(float(i) for i in items)


def _non_empty(values: Sequence[Any], path: tuple[str, ...]) -> None:
    if not values:
        raise SearchSpaceError(f"{_at(path)}: an empty list leaves nothing to try")


def _at(path: Sequence[str]) -> str:
    """'search space instance_group[0] count' for a field path."""
    head, *rest = path
    out = head
    for part in rest:
        out += part if part.startswith("[") else f" {part}"
    return out


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"
