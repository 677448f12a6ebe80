"""Explicit model control: load with a config override, unload, read config and metadata.

The control plane is Triton's HTTP API (pytest_triton.triton_http): nothing heavy is imported to
load a model.
A config override replaces whole top-level fields of the model's own config (as Model Analyzer's
model_config_parameters do): `{"instance_group": [{"count": 2, "kind": "KIND_CPU"}]}` changes
the instance groups and keeps inputs, outputs and backend.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pytest_triton import triton_http
from pytest_triton.errors import ConfigError, ModelLoadError
from pytest_triton.spec import ModelSpec

if TYPE_CHECKING:
    from pytest_triton.server.base import Server

T = TypeVar("T")


def validate_config_override(model: str, override: Mapping[str, Any]) -> None:
    """Raise ConfigError unless `override` parses as (part of) Triton's ModelConfig message."""
    if not isinstance(override, Mapping):
        raise ConfigError(
            f"model {model!r}: config override must be a dict of ModelConfig fields, "
            f"got {type(override).__name__}"
        )
    problem = config_parse_error(override)
    if problem is not None:
        raise ConfigError(
            f"model {model!r}: malformed config override: {problem} "
            "(fields use config.pbtxt names, e.g. instance_group, max_batch_size, "
            "dynamic_batching)"
        )


def config_parse_error(config: Mapping[str, Any]) -> str | None:
    """Triton's ModelConfig message's own objection to `config` (JSON form), or None."""
    from google.protobuf import json_format
    from tritonclient.grpc import model_config_pb2

    try:
        json_format.ParseDict(dict(config), model_config_pb2.ModelConfig())
    except json_format.ParseError as exc:
        return str(exc)
    return None


def read_repository_config(repository: Path, model: str) -> dict[str, Any] | None:
    """The model's config.pbtxt as a JSON-style dict, or None when it has none (auto-complete)."""
    path = repository / model / "config.pbtxt"
    if not path.exists():
        return None
    from google.protobuf import json_format, text_format
    from tritonclient.grpc import model_config_pb2

    try:
        message = text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise ModelLoadError(f"{path} is not a valid model configuration: {exc}") from None
    config: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return config


def effective_config(
    base: Mapping[str, Any] | None, override: Mapping[str, Any], model: str
) -> dict[str, Any]:
    """Base config with the override's top-level fields replacing the base's."""
    merged = dict(base or {})
    merged.update(override)
    merged["name"] = model
    return merged


class ModelController:
    """Loads and unloads models on one server through its HTTP repository API."""

    def __init__(
        self, http: str, model_repository: Path | None, server: Server | None = None
    ) -> None:
        """With `server`, loads and unloads end as soon as it dies or its log shows the model
        failed (server/watch.py), and errors carry its log tail."""
        self._http = http
        self._repository = model_repository
        self._server = server

    def _log_tail(self) -> str:
        return self._server.log_tail() if self._server is not None else ""

    def _watched(self, request: Callable[[], T], doing: str, name: str) -> T:
        if self._server is None:
            return request()
        from pytest_triton.server.watch import ServerWatch

        # What Triton 2.51 logs when a model's python stub cannot start, or a load fails.
        marks = ("Failed to initialize Python stub", f"failed to load '{name}'")
        return ServerWatch(self._server).call(request, doing, marks)

    def available_models(self) -> list[str]:
        """Model names in the local repository (directories), sorted."""
        if self._repository is None or not self._repository.is_dir():
            return []
        return sorted(p.name for p in self._repository.iterdir() if p.is_dir())

    def load(self, spec: ModelSpec) -> dict[str, Any]:
        """Load `spec` and return its effective config as the server reports it."""
        self._check_in_repository(spec.name)
        body: dict[str, Any] = {}
        if spec.config:
            base = (
                read_repository_config(self._repository, spec.name)
                if self._repository is not None and self._repository.is_dir()
                else None
            )
            if base is None:
                # Remote repository or auto-completed config: ask the server for its view.
                self._post_load(spec, {})
                base = self.config(spec.name)
            body = {
                "parameters": {"config": json.dumps(effective_config(base, spec.config, spec.name))}
            }
        elif self.is_ready(spec.name):
            # A load request without a config keeps the model's last override while its files
            # are unchanged: unloaded first, it reads the repository's config again.
            self.unload(spec.name)
        self._post_load(spec, body)
        return self._ready_config(spec)

    def load_files(
        self,
        spec: ModelSpec,
        config: Mapping[str, Any],
        files: Mapping[str, bytes],
    ) -> dict[str, Any]:
        """Load `spec.name` from files sent with the request instead of the repository.

        Triton's file override ("file:<path>" parameters, base64, with the whole config): the
        model need not be in any repository the server reads, so a copy of another build's
        model loads on a local, docker or remote server alike, under a name of its own.
        """
        parameters = {"config": json.dumps({**dict(config), "name": spec.name})}
        parameters.update(
            {f"file:{rel}": base64.b64encode(data).decode("ascii") for rel, data in files.items()}
        )
        self._post_load(spec, {"parameters": parameters})
        return self._ready_config(spec)

    def unload(self, name: str) -> None:
        path = triton_http.repository_path(name, "unload")
        self._watched(
            lambda: self._request("POST", path, {}, timeout_s=60.0), f"unloading {name!r}", name
        )

    def config(self, name: str) -> dict[str, Any]:
        path = triton_http.model_path(name) + "/config"
        result: dict[str, Any] = self._request("GET", path, None)
        return result

    def metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", triton_http.model_path(name, version), None)
        return result

    def is_ready(self, name: str, version: str | None = None) -> bool:
        path = triton_http.model_path(name, version) + "/ready"
        try:
            triton_http.call(self._http, "GET", path, timeout_s=5.0)
        except (TimeoutError, triton_http.TritonHTTPError, triton_http.TritonUnreachable):
            return False
        return True

    # -- internals ---------------------------------------------------------------------------
    def _ready_config(self, spec: ModelSpec) -> dict[str, Any]:
        """The config of a model just loaded, once it is ready to serve."""
        if not self.is_ready(spec.name, spec.version):
            raise ModelLoadError(
                f"model {spec.name!r} version {spec.version or 'latest'} is not ready after "
                "loading; check the model's version directories" + _tail(self._log_tail())
            )
        return self.config(spec.name)

    def _check_in_repository(self, name: str) -> None:
        available = self.available_models()
        if self._repository is not None and self._repository.is_dir() and name not in available:
            raise ModelLoadError(
                f"model {name!r} is not in the model repository {self._repository} "
                f"(it has: {', '.join(available) or 'no models'}); fix the name in "
                "@pytest.mark.triton_model or --triton-model-repository"
            )

    def _post_load(self, spec: ModelSpec, body: dict[str, Any]) -> None:
        path = triton_http.repository_path(spec.name, "load")
        try:
            self._watched(
                lambda: self._request("POST", path, body, timeout_s=spec.load_timeout_s),
                f"loading model {spec.name!r}",
                spec.name,
            )
        except TimeoutError:
            # A python stub that cannot start makes Triton's load request hang forever.
            raise ModelLoadError(
                f"model {spec.name!r} did not finish loading within {spec.load_timeout_s:g}s "
                "(a python backend stub that cannot start hangs the load; see the log tail, "
                "or raise the load timeout)" + _tail(self._log_tail())
            ) from None
        except triton_http.TritonHTTPError as exc:
            raise ModelLoadError(
                f"Triton failed to load model {spec.name!r}: {exc.message}"
                + _tail(self._log_tail())
            ) from None

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None, timeout_s: float = 30.0
    ) -> Any:
        try:
            return triton_http.call(self._http, method, path, body, timeout_s)
        except triton_http.TritonUnreachable as exc:
            raise ModelLoadError(
                f"Triton at {self._http} did not answer {method} {path} ({exc}): the server "
                "stopped or restarted, or another process answered on its port. Run the "
                "session again; if it keeps happening, check what else runs Triton on this "
                "machine" + _tail(self._log_tail())
            ) from None


def _tail(log: str) -> str:
    return f"\n--- tritonserver log (tail) ---\n{log}" if log else ""
