"""Which models are loaded on the session's server, so a test reuses what the last one loaded.

Loading a python-backend model costs seconds; tests that share a model and config override
share one load. A different override of the same model reloads it (Triton serves one config
per model name).
"""

from __future__ import annotations

from typing import Any

from pytest_triton.server.models import ModelController
from pytest_triton.spec import ModelSpec


class ModelCache:
    def __init__(self, controller: ModelController) -> None:
        self.controller = controller
        self._loaded: dict[str, tuple[str, dict[str, Any]]] = {}

    def ensure(self, spec: ModelSpec) -> dict[str, Any]:
        """Load `spec` unless exactly it is already loaded; returns the effective config."""
        key = spec.load_key()
        current = self._loaded.get(spec.name)
        if current is not None and current[0] == key and self.controller.is_ready(spec.name):
            return current[1]
        # Forget first: if the load fails, the model is in an unknown state on the server.
        self._loaded.pop(spec.name, None)
        config = self.controller.load(spec)
        self._loaded[spec.name] = (key, config)
        return config

    def unload_all(self) -> None:
        for name in list(self._loaded):
            self._loaded.pop(name)
            self.controller.unload(name)
