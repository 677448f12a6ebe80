"""tritonserver flags -> argv list. Never a shell string: values are passed through verbatim."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from pytest_triton.errors import ConfigError

# Flags the launcher owns: a user override would break explicit model control or port handling.
RESERVED_FLAGS = frozenset(
    {
        "model-repository",
        "model-store",
        "model-control-mode",
        "http-port",
        "grpc-port",
        "metrics-port",
        "http-address",
        "grpc-address",
        "metrics-address",
    }
)

_FLAG_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def normalize_flag(name: str) -> str:
    """Accept Model Analyzer's spelling (log_verbose) and tritonserver's (log-verbose)."""
    flag = name.strip().lstrip("-").replace("_", "-")
    if not _FLAG_NAME.match(flag):
        raise ConfigError(
            f"invalid tritonserver flag name {name!r}: use names like 'log-verbose' or "
            "'exit_timeout_secs' (see `tritonserver --help`)"
        )
    return flag


def format_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def extra_flags_argv(flags: Mapping[str, object]) -> list[str]:
    """User flags (a mapping, as Model Analyzer's `triton_server_flags`) -> ['--k=v', ...]."""
    argv: list[str] = []
    for name, value in flags.items():
        flag = normalize_flag(name)
        if flag in RESERVED_FLAGS:
            raise ConfigError(
                f"tritonserver flag --{flag} is set by pytest-triton itself; use the "
                "--triton-model-repository option for the repository, ports are always ephemeral "
                "and model control is always explicit"
            )
        argv.append(f"--{flag}={format_value(value)}")
    return argv


def server_argv(
    binary: str,
    model_repository: Path | str,
    http_port: int,
    grpc_port: int,
    metrics_port: int,
    flags: Mapping[str, object],
    address: str = "127.0.0.1",
) -> list[str]:
    """The full tritonserver command line, explicit model control, bound to `address`."""
    return [
        binary,
        f"--model-repository={model_repository}",
        "--model-control-mode=explicit",
        f"--http-address={address}",
        f"--http-port={http_port}",
        f"--grpc-address={address}",
        f"--grpc-port={grpc_port}",
        f"--metrics-address={address}",
        f"--metrics-port={metrics_port}",
        "--allow-metrics=true",
        *extra_flags_argv(flags),
    ]


def parse_flag_pairs(text: str) -> dict[str, str]:
    """'log-verbose=1, exit_timeout_secs=30' (option or ini) -> mapping."""
    pairs: dict[str, str] = {}
    for item in re.split(r"[\s,]+", text.strip()):
        if not item:
            continue
        if "=" not in item:
            raise ConfigError(
                f"tritonserver flag {item!r} has no value: write it as name=value, "
                "e.g. --triton-server-flag log-verbose=1"
            )
        name, value = item.split("=", 1)
        pairs[normalize_flag(name)] = value
    return pairs
