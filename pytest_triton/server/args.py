"""tritonserver flags -> argv list. Never a shell string: values are passed through verbatim."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from pytest_triton.errors import ConfigError

# Flags the launcher owns, and why: a user's value would break what the plugin relies on.
RESERVED_FLAGS = {
    "model-repository": "use --triton-model-repository",
    "model-store": "use --triton-model-repository",
    "model-control-mode": "model control is always explicit: tests load what they measure",
    "id": "the server's id is how readiness tells our server from a stale one on the port",
    **{
        f"{api}-{part}": "servers we start listen on 127.0.0.1, on free ports unless "
        "--triton-ports says which"
        for api in ("http", "grpc", "metrics")
        for part in ("port", "address")
    },
    **{
        f"allow-{api}": "the plugin loads models over HTTP, measures over gRPC or HTTP and "
        "reads metrics"
        for api in ("http", "grpc", "metrics")
    },
}

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
        _refuse_reserved(flag)
        argv.append(f"--{flag}={format_value(value)}")
    return argv


def server_argv(
    binary: str,
    model_repository: Path | str,
    http_port: int,
    grpc_port: int,
    metrics_port: int,
    flags: Mapping[str, object],
    *,
    server_id: str,
    address: str = "127.0.0.1",
) -> list[str]:
    """The full tritonserver command line, explicit model control, bound to `address`;
    `server_id` is how readiness tells this server from any other answering on its port."""
    return [
        binary,
        f"--id={server_id}",
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
        flag = normalize_flag(name)
        _refuse_reserved(flag)
        pairs[flag] = value
    return pairs


def _refuse_reserved(flag: str) -> None:
    if flag in RESERVED_FLAGS:
        raise ConfigError(
            f"tritonserver flag --{flag} is set by pytest-triton itself and cannot be given "
            f"in --triton-server-flags: {RESERVED_FLAGS[flag]}"
        )
