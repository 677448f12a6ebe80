"""A Model Analyzer `profile` YAML config, read as a pytest suite: one search per profiled model.

Parsed with PyYAML's safe_load; its node tree gives each key's line, so a bad value is reported
as `perf.yaml:12: ...`. Keys map onto what a test declares:

* `profile_models` (a list, a comma-delimited string or a mapping of per-model settings):
  the tests; each model's `model_config_parameters` is its search space, `parameters` its
  load parameters, `constraints` and `objectives` its own (over the global ones),
  `perf_analyzer_flags` its `shape` and `input-data`, `cpu_only` its instance kind;
* `constraints` (`perf_throughput: {min}`, `perf_latency_p99: {max}`, ..., `gpu_used_memory:
  {max}`), `latency_budget` and `min_throughput`: the SLO;
* `objectives`, `run_config_search_mode`, `run_config_search_{min,max}_{instance_count,
  model_batch_size}`, `run_config_search_disable`: the search;
  `run_config_search_{min,max}_concurrency`: its load points;
* `model_repository`, `triton_launch_mode`, `triton_docker_image`, `triton_grpc_endpoint`,
  `triton_http_endpoint`, `triton_server_path`, `triton_server_flags`, `checkpoint_directory`,
  `client_protocol`: the session's server and files (settings.py applies them).

Model Analyzer keys that only shape its own output are listed as ignored; any other key is an
error naming it, so a typo never silently changes what is measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_triton.errors import ConfigError

SUPPORTED = frozenset(
    {
        "model_repository",
        "profile_models",
        "constraints",
        "objectives",
        "latency_budget",
        "min_throughput",
        "run_config_search_mode",
        "run_config_search_disable",
        "run_config_search_min_instance_count",
        "run_config_search_max_instance_count",
        "run_config_search_min_model_batch_size",
        "run_config_search_max_model_batch_size",
        "run_config_search_min_concurrency",
        "run_config_search_max_concurrency",
        "perf_analyzer_flags",
        "triton_launch_mode",
        "triton_docker_image",
        "triton_grpc_endpoint",
        "triton_http_endpoint",
        "triton_server_path",
        "triton_server_flags",
        "checkpoint_directory",
        "client_protocol",
    }
)
# Model Analyzer keys about its own output and process: nothing here to change.
IGNORED = frozenset(
    {
        "export_path",
        "override_output_model_repository",
        "output_model_repository_path",
        "num_configs_per_model",
        "num_top_model_configs",
        "inference_output_fields",
        "gpu_output_fields",
        "server_output_fields",
        "plots",
        "skip_summary_reports",
        "skip_detailed_reports",
        "summarize",
        "filename_model_inference",
        "filename_model_gpu",
        "filename_server_only",
        "perf_analyzer_path",
        "perf_output",
        "perf_output_path",
        "perf_analyzer_timeout",
        "perf_analyzer_cpu_util",
        "perf_analyzer_max_auto_adjusts",
        "triton_output_path",
        "triton_install_path",
        "triton_docker_labels",
        "triton_docker_mounts",
        "monitoring_interval",
        "duration_seconds",
        "collect_cpu_metrics",
        "client_max_retries",
        "reload_model_disable",
    }
)
MODEL_KEYS = frozenset(
    {
        "model_config_parameters",
        "parameters",
        "constraints",
        "objectives",
        "perf_analyzer_flags",
        "cpu_only",
    }
)
MODEL_IGNORED = frozenset({"weighting", "triton_server_environment", "triton_docker_args"})
# constraint -> (its bound key, the SLO field)
CONSTRAINTS = {
    "perf_throughput": ("min", "min_throughput"),
    "perf_latency_p99": ("max", "p99_ms"),
    "perf_latency_p95": ("max", "p95_ms"),
    "perf_latency_p90": ("max", "p90_ms"),
    "perf_latency_p50": ("max", "p50_ms"),
    "perf_latency_avg": ("max", "avg_ms"),
    "gpu_used_memory": ("max", "max_gpu_memory_mb"),
}
LAUNCH_MODES = ("local", "docker", "remote")
# launch mode -> (the key it needs, the option that key sets)
LAUNCH_NEEDS = {
    "docker": ("triton_docker_image", "triton_image"),
    "remote": ("triton_grpc_endpoint", "triton_url"),
}


class YamlSuiteError(ConfigError):
    """A YAML suite that cannot run: says which file, which line and what to write."""


@dataclass(frozen=True)
class ProfiledModel:
    """One test: a model to search, with everything its markers would say."""

    name: str
    line: int
    slo: Mapping[str, float]  # triton_slo arguments
    search: Mapping[str, Any]  # triton_search arguments
    load: Mapping[str, Any]  # triton_load arguments


@dataclass(frozen=True)
class YamlSuite:
    path: Path
    models: tuple[ProfiledModel, ...]
    # session settings: option name -> value (model repository, server mode, flags...)
    session: Mapping[str, Any] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()


def holds_profile_models(path: Path) -> bool:
    """Whether a YAML file looks like a Model Analyzer config (a cheap look at its top keys)."""
    try:
        data = _load(path.read_text(encoding="utf-8"), path)
    except (OSError, YamlSuiteError):
        return False
    return isinstance(data, Mapping) and "profile_models" in data


def read_suite(path: Path) -> YamlSuite:
    """The suite of a Model Analyzer YAML file; YamlSuiteError with file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlSuiteError(f"{path}: cannot be read ({exc})") from None
    data = _load(text, path)
    lines = _key_lines(text)
    at = _At(path, lines)
    if not isinstance(data, Mapping):
        raise YamlSuiteError(
            f"{path}: a Model Analyzer config is a mapping (profile_models: ...), got "
            f"{type(data).__name__}"
        )
    unknown = sorted(set(map(str, data)) - SUPPORTED - IGNORED)
    if unknown:
        raise YamlSuiteError(
            f"{at.where(unknown[0])}: unsupported key(s) {', '.join(unknown)}; supported: "
            f"{', '.join(sorted(SUPPORTED))} (and, ignored: Model Analyzer's output settings)"
        )
    ignored = [str(k) for k in data if str(k) in IGNORED]
    if "profile_models" not in data:
        raise YamlSuiteError(f"{path}: no profile_models: nothing to profile")
    base_slo = _slo(data, at, ())
    base_search = _search(data, at)
    base_load = _load_settings(data, at, ())
    models = []
    for name, spec, key in _profile_models(data["profile_models"], at):
        unknown_model = sorted(set(map(str, spec)) - MODEL_KEYS - MODEL_IGNORED)
        if unknown_model:
            raise YamlSuiteError(
                f"{at.where(*key, unknown_model[0])}: unsupported key(s) of model {name!r}: "
                f"{', '.join(unknown_model)}; supported: {', '.join(sorted(MODEL_KEYS))}"
            )
        ignored += [f"{name}.{k}" for k in map(str, spec) if k in MODEL_IGNORED]
        slo = {**base_slo, **_slo(spec, at, key)}
        search = dict(base_search)
        if "model_config_parameters" in spec:
            search["space"] = spec["model_config_parameters"]
        elif data.get("run_config_search_disable") is True:
            search["space"] = {}  # no automatic space: the model's own config only
        if "parameters" in spec:
            search["parameters"] = spec["parameters"]
        if "objectives" in spec:
            search["objectives"] = spec["objectives"]
        if spec.get("cpu_only") is True:
            search["instance_kind"] = "KIND_CPU"
        load = {**base_load, **_load_settings(spec, at, key)}
        _check_search(search, at, key, name)
        models.append(ProfiledModel(name, at.line(*key), slo, search, load))
    return YamlSuite(path, tuple(models), _session(data, at), tuple(ignored))


def _load(text: str, path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlSuiteError(f"{path}{line}: not valid YAML: {problem}") from None


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Each mapping key's line (1-based), by its path of keys."""
    import yaml

    lines: dict[tuple[str, ...], int] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*path, str(key.value))
                lines[here] = key.start_mark.line + 1
                walk(value, here)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, f"[{i}]")] = item.start_mark.line + 1
                walk(item, (*path, f"[{i}]"))

    walk(yaml.compose(text, Loader=yaml.SafeLoader), ())
    return lines


@dataclass(frozen=True)
class _At:
    path: Path
    lines: Mapping[tuple[str, ...], int]

    def line(self, *keys: str) -> int:
        for n in range(len(keys), 0, -1):
            if keys[:n] in self.lines:
                return self.lines[keys[:n]]
        return 1

    def where(self, *keys: str) -> str:
        return f"{self.path}:{self.line(*keys)}: {' '.join(k for k in keys if k)}".rstrip()


def _profile_models(value: Any, at: _At) -> list[tuple[str, Mapping[str, Any], tuple[str, ...]]]:
    """(name, per-model settings, key path) for each profiled model."""
    if isinstance(value, str):
        names = [n.strip() for n in value.split(",") if n.strip()]
        return [(n, {}, ("profile_models",)) for n in names]
    if isinstance(value, list):
        out: list[tuple[str, Mapping[str, Any], tuple[str, ...]]] = []
        for i, item in enumerate(value):
            key = ("profile_models", f"[{i}]")
            if isinstance(item, str):
                out.append((item, {}, key))
            elif isinstance(item, Mapping) and len(item) == 1:
                name, spec = next(iter(item.items()))
                out.append((str(name), _mapping(spec, at, (*key, str(name))), (*key, str(name))))
            else:
                raise YamlSuiteError(
                    f"{at.where(*key)}: expected a model name or `name: {{settings}}`, got {item!r}"
                )
        if not out:
            raise YamlSuiteError(f"{at.where('profile_models')}: an empty list of models")
        return out
    if isinstance(value, Mapping):
        if not value:
            raise YamlSuiteError(f"{at.where('profile_models')}: no models")
        return [
            (str(n), _mapping(s, at, ("profile_models", str(n))), ("profile_models", str(n)))
            for n, s in value.items()
        ]
    raise YamlSuiteError(
        f"{at.where('profile_models')}: expected model names or a mapping of models, got {value!r}"
    )


def _mapping(value: Any, at: _At, key: tuple[str, ...]) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise YamlSuiteError(f"{at.where(*key)}: expected a mapping, got {value!r}")
    return value


def _slo(data: Mapping[str, Any], at: _At, key: tuple[str, ...]) -> dict[str, float]:
    slo: dict[str, float] = {}
    constraints = _mapping(data.get("constraints"), at, (*key, "constraints"))
    for name, bound in constraints.items():
        where = (*key, "constraints", str(name))
        if name not in CONSTRAINTS:
            raise YamlSuiteError(
                f"{at.where(*where)}: unknown constraint {name!r}; known: {', '.join(CONSTRAINTS)}"
            )
        side, slo_field = CONSTRAINTS[name]
        bound = _mapping(bound, at, where)
        if set(bound) != {side}:
            raise YamlSuiteError(f"{at.where(*where)}: {name} takes {{{side}: <number>}}")
        slo[slo_field] = _number(bound[side], at, (*where, side))
    if "latency_budget" in data:
        slo["p99_ms"] = _number(data["latency_budget"], at, (*key, "latency_budget"))
    if "min_throughput" in data:
        slo["min_throughput"] = _number(data["min_throughput"], at, (*key, "min_throughput"))
    return slo


def _search(data: Mapping[str, Any], at: _At) -> dict[str, Any]:
    search: dict[str, Any] = {}
    if "run_config_search_mode" in data:
        search["mode"] = data["run_config_search_mode"]
    if "objectives" in data:
        search["objectives"] = data["objectives"]
    for bound in ("instance_count", "model_batch_size"):
        for side in ("min", "max"):
            key = f"run_config_search_{side}_{bound}"
            if key in data:
                search[f"{side}_{bound}"] = int(_number(data[key], at, (key,)))
    return search


def _load_settings(data: Mapping[str, Any], at: _At, key: tuple[str, ...]) -> dict[str, Any]:
    load: dict[str, Any] = {}
    low = data.get("run_config_search_min_concurrency")
    high = data.get("run_config_search_max_concurrency")
    if high is not None:
        load["max_concurrency"] = int(
            _number(high, at, (*key, "run_config_search_max_concurrency"))
        )
    if low is not None:
        top = load.get("max_concurrency", 1024)
        start = int(_number(low, at, (*key, "run_config_search_min_concurrency")))
        points = []
        c = start
        while c <= top:
            points.append(c)
            c *= 2
        load["concurrency"] = points  # Model Analyzer's sweep: powers of two from the minimum
    flags = _mapping(data.get("perf_analyzer_flags"), at, (*key, "perf_analyzer_flags"))
    for name, value in flags.items():
        where = (*key, "perf_analyzer_flags", str(name))
        if name == "shape":
            load["shapes"] = _shapes(value, at, where)
        elif name == "input-data":
            load["input_data"] = str(value)
        else:
            raise YamlSuiteError(
                f"{at.where(*where)}: perf_analyzer flag {name!r} is not supported (the native "
                "load driver takes shape and input-data)"
            )
    if "client_protocol" in data:
        load["protocol"] = data["client_protocol"]
    return load


def _shapes(value: Any, at: _At, where: tuple[str, ...]) -> dict[str, list[int]]:
    """perf_analyzer's --shape NAME:d1,d2 (a string, or a list of them)."""
    items = value if isinstance(value, list) else [value]
    shapes: dict[str, list[int]] = {}
    for item in items:
        name, sep, dims = str(item).rpartition(":")
        try:
            shapes[name] = [int(d) for d in dims.split(",")]
        except ValueError:
            name = ""
        if not sep or not name:
            raise YamlSuiteError(
                f"{at.where(*where)}: shape {item!r} is not NAME:d1,d2 (e.g. INPUT0:1,16)"
            )
    return shapes


def _check_search(search: Mapping[str, Any], at: _At, key: tuple[str, ...], name: str) -> None:
    """The search arguments, validated now: a bad space is this file's line, not a marker's."""
    from pytest_triton.search.settings import search_settings

    try:
        search_settings(search, f"model {name!r}")
    except ConfigError as exc:
        raise YamlSuiteError(f"{at.where(*key)}: {exc}") from None


def _session(data: Mapping[str, Any], at: _At) -> dict[str, Any]:
    """Options of the session's server and files, by option name."""
    session: dict[str, Any] = {}
    base = at.path.parent
    if "model_repository" in data:
        session["triton_model_repository"] = _path(data["model_repository"], base)
    if "checkpoint_directory" in data:
        session["triton_checkpoint_dir"] = _path(data["checkpoint_directory"], base)
    if "triton_server_path" in data:
        session["triton_server_path"] = _path(data["triton_server_path"], base)
    mode = data.get("triton_launch_mode", "local")
    if mode not in LAUNCH_MODES:
        raise YamlSuiteError(
            f"{at.where('triton_launch_mode')}: {mode!r} is not supported; use one of "
            f"{', '.join(LAUNCH_MODES)}"
        )
    if mode in LAUNCH_NEEDS:
        key, option = LAUNCH_NEEDS[mode]
        if not data.get(key):
            raise YamlSuiteError(f"{at.where('triton_launch_mode')}: {mode} mode needs {key}")
        session[option] = str(data[key])
    if mode == "remote" and data.get("triton_http_endpoint"):
        session["triton_http_url"] = str(data["triton_http_endpoint"])
    flags = _mapping(data.get("triton_server_flags"), at, ("triton_server_flags",))
    if flags:
        session["triton_server_flags"] = tuple(
            f"{str(k).replace('_', '-')}={_flag(v)}" for k, v in flags.items()
        )
    return session


def _flag(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _path(value: Any, base: Path) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base / path


def _number(value: Any, at: _At, key: Sequence[str]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise YamlSuiteError(f"{at.where(*key)}: expected a positive number, got {value!r}")
    return float(value)
