"""--triton-* command line options, each with an ini twin. Precedence: CLI > ini > default.

Every option is declared once in OPTIONS; `add_options` registers both spellings, and
`get_option` resolves a value in order. Ini paths are relative to the ini file's directory, so
a checked-in pytest.ini works from any working directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

Kind = Literal["string", "path", "float", "int", "bool", "list"]


@dataclass(frozen=True)
class Option:
    name: str  # ini name; the CLI flag is --name with dashes
    help: str
    kind: Kind = "string"
    default: Any = None
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option("triton_model_repository", "model repository served by Triton", "path"),
    Option(
        "triton_server_path",
        "tritonserver binary (default: the one in the nvidia-pytriton wheel)",
        "path",
    ),
    Option(
        "triton_url",
        "gRPC host:port of an already running Triton (remote mode); under pytest-xdist a "
        "comma-separated list gives worker i the i-th",
    ),
    Option(
        "triton_http_url",
        "HTTP host:port of the remote Triton (default: gRPC port - 1); a list as --triton-url",
    ),
    Option("triton_image", "run Triton from this container image (docker mode)"),
    Option(
        "triton_gpus",
        "GPUs for the server: all, none, comma separated ids/UUIDs (docker mode), or "
        "per-worker: under pytest-xdist each worker its own share of them",
        "string",
        "none",
    ),
    Option("triton_shm_size", "docker-mode container /dev/shm size, e.g. 1g", "string", "256m"),
    Option(
        "triton_mount",
        "extra docker-mode bind mount host:container[:ro|rw] (repeatable; rw by default)",
        "list",
        (),
    ),
    Option(
        "triton_env",
        "environment variable NAME=VALUE for the server process or container (repeatable)",
        "list",
        (),
    ),
    Option(
        "triton_server_flags",
        "extra tritonserver flags as name=value (repeatable), e.g. log-verbose=1",
        "list",
        (),
    ),
    Option(
        "triton_yaml",
        "file name pattern of Model Analyzer YAML configs to collect as test suites, e.g. "
        "perf*.yaml (repeatable; a YAML file named on the command line is collected when it "
        "holds profile_models)",
        "list",
        (),
    ),
    Option("triton_startup_timeout", "seconds to wait for the server to be ready", "float", 120.0),
    Option("triton_load_timeout", "seconds to wait for a model to load", "float", 120.0),
    Option(
        "triton_ports",
        "fixed HTTP,GRPC,METRICS ports for a started server (default: free ephemeral ports)",
    ),
    Option(
        "triton_concurrency",
        "default concurrency load points, e.g. '1,4,8' or 'auto'",
        "string",
        "1",
    ),
    Option("triton_window", "measurement window length in seconds", "float", 2.0),
    Option("triton_warmup", "warm-up seconds before the first window of each step", "float", 1.0),
    Option("triton_protocol", "protocol the load driver uses", "string", "grpc", ("grpc", "http")),
    Option("triton_request_rate", "open-loop load points in infer/s instead of concurrency"),
    Option(
        "triton_rate_distribution",
        "open-loop send schedule",
        "string",
        None,
        ("constant", "poisson"),
    ),
    Option("triton_max_concurrency", "highest concurrency an auto ramp may reach", "int"),
    Option("triton_batch_size", "client batch size of every request", "int"),
    Option(
        "triton_stability_pct",
        "a step is stable when its last 3 windows agree within this percentage",
        "float",
    ),
    Option(
        "triton_measured_windows",
        "windows each step's figures and baseline intervals are computed over (default 3); "
        "stability is judged on the last 3, then the step measures until it has this many",
        "int",
    ),
    Option("triton_max_trials", "windows per attempt before a step counts as unstable", "int"),
    Option(
        "triton_block_pairs",
        "paired with the baseline build: block pairs per step, a multiple of 4 (default 4); "
        "more pairs narrow the change's interval",
        "int",
    ),
    Option(
        "triton_max_window_retries",
        "times an unstable step is retried with windows twice as long",
        "int",
    ),
    Option(
        "triton_max_step_s",
        "seconds one step may take before it is reported unstable (default 120)",
        "float",
    ),
    Option(
        "triton_stability_latency",
        "latency statistic stability is judged on (default: the one the SLO bounds, else avg)",
        "string",
        None,
        ("avg", "p50", "p90", "p95", "p99"),
    ),
    Option("triton_window_requests", "count-based windows of this many requests", "int"),
    Option(
        "triton_load_driver",
        "load generator: the native driver or perf_analyzer",
        "string",
        None,
        ("native", "perf_analyzer"),
    ),
    Option("triton_perf_analyzer_path", "perf_analyzer binary for --triton-load-driver"),
    Option("triton_report_json", "write a JSON report of all measurements to this path", "path"),
    Option(
        "triton_report_md",
        "write a markdown report (e.g. $GITHUB_STEP_SUMMARY) to this path",
        "path",
    ),
    Option(
        "triton_report_html",
        "write an HTML report with throughput/latency curves to this path",
        "path",
    ),
    Option(
        "triton_xdist_parallel",
        "let pytest-xdist workers measure at the same time (default: they take turns step by "
        "step, so none measures while another loads the machine); for workers with CPUs and "
        "GPUs of their own",
        "bool",
        False,
    ),
    Option(
        "triton_benchmark_json",
        "write every measured step as a pytest-benchmark JSON benchmark to this path (read by "
        "pytest-benchmark compare and github-action-benchmark's pytest tool)",
        "path",
    ),
    Option(
        "triton_github_benchmark",
        "write github-action-benchmark's custom formats into this directory: "
        "smaller_is_better.json (latencies) and bigger_is_better.json (throughputs)",
        "path",
    ),
)

_BY_NAME = {o.name: o for o in OPTIONS}


def add_options(parser: pytest.Parser, options: tuple[Option, ...] = OPTIONS) -> None:
    """Register options (also those another plugin module declares, e.g. docker or baselines)."""
    group = parser.getgroup("triton", "Triton Inference Server performance gate")
    for option in options:
        _BY_NAME[option.name] = option
        kwargs: dict[str, Any] = {"dest": option.name, "default": None, "help": option.help}
        if option.kind == "list":
            kwargs["action"] = "append"
        elif option.kind == "bool":
            kwargs["action"] = "store_const"
            kwargs["const"] = True
        if option.choices:
            kwargs["choices"] = option.choices
        group.addoption(option.flag, **kwargs)
        ini_type = {"path": "string", "list": "linelist", "bool": "bool"}.get(option.kind, "string")
        parser.addini(option.name, f"{option.help} (twin of {option.flag})", type=ini_type)  # type: ignore[arg-type]


def get_option(config: pytest.Config, name: str) -> Any:
    """The option's value: the command line if given, else the ini value, else the default."""
    value = given_option(config, name)
    return _BY_NAME[name].default if value is None else value


def given_option(config: pytest.Config, name: str) -> Any:
    """The option's value from the command line or the ini file; None when the user set
    neither."""
    option = _BY_NAME[name]
    cli = config.getoption(name, default=None)
    if cli is not None and cli != []:
        return _convert(option, cli, config, from_ini=False)
    ini = config.getini(name)
    if ini not in (None, "", []):
        return _convert(option, ini, config, from_ini=True)
    return None


def validate_all(config: pytest.Config) -> None:
    """Resolve every option once at start-up, so a bad value stops the run before any work."""
    for name in _BY_NAME:
        get_option(config, name)


def _convert(option: Option, value: Any, config: pytest.Config, from_ini: bool) -> Any:
    name = f"{option.flag} / ini {option.name}"
    try:
        if option.kind == "float":
            return float(value)
        if option.kind == "int":
            return int(value)
        if option.kind == "bool":
            return value if isinstance(value, bool) else str(value).lower() in {"1", "true", "yes"}
        if option.kind == "path":
            path = Path(str(value)).expanduser()
            if from_ini and not path.is_absolute() and config.inipath is not None:
                path = config.inipath.parent / path
            return path.resolve()
        if option.kind == "list":
            items = [value] if isinstance(value, str) else list(value)
            return tuple(str(v).strip() for v in items if str(v).strip())
    except ValueError:
        raise pytest.UsageError(f"{name}: {value!r} is not a valid {option.kind}") from None
    if option.choices and value not in option.choices:
        raise pytest.UsageError(f"{name}: {value!r} is not one of {', '.join(option.choices)}")
    return value
