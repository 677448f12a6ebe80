"""pytest-xdist: each worker's measurements reach the controller, which writes the reports and
the session summary once.

A worker measures with its own server and judges its own tests; at its session's end it puts
what the reports need (its records, its server's identity, its baselines summary lines) into
xdist's worker-output channel (`config.workeroutput`), which the controller reads as each
worker goes down. The payload is pickled: the records are our own dataclasses, sent between
processes of one pytest run.
"""

from __future__ import annotations

import base64
import io
import pickle
from types import MappingProxyType
from typing import Any

import pytest

from .state import STATE_KEY

CHANNEL_KEY = "pytest_triton"


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def send_to_controller(config: pytest.Config, baseline_lines: list[str]) -> None:
    """On a worker, at session end: what the controller's reports need."""
    state = config.stash.get(STATE_KEY, None)
    if state is None or not is_worker(config):
        return
    payload = {
        "results": state.results,
        "server": state.server,
        "baseline_lines": baseline_lines,
    }
    output: dict[str, Any] = config.workeroutput  # type: ignore[attr-defined]
    output[CHANNEL_KEY] = base64.b64encode(dumps(payload)).decode("ascii")


class _Pickler(pickle.Pickler):
    """Specs hold read-only mappings (spec.frozen_mapping), which pickle cannot take as they
    are: they travel as dicts and are made read-only again."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, MappingProxyType):
            from pytest_triton.spec import frozen_mapping  # the core, only when sending

            return frozen_mapping, (dict(obj),)
        return NotImplemented


def dumps(payload: Any) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer).dump(payload)
    return buffer.getvalue()


class ControllerReceiver:
    """Registered on the controller when pytest-xdist is active: takes each worker's payload."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self.baseline_lines: list[str] = []

    @pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: absent without it
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get(CHANNEL_KEY)
        state = self._config.stash.get(STATE_KEY, None)
        if data is None or state is None:
            return  # a worker that crashed: its tests are reported as pytest-xdist saw them
        payload = pickle.loads(base64.b64decode(data))
        state.results.extend(payload["results"])
        state.server = state.server or payload["server"]
        self.baseline_lines.extend(payload["baseline_lines"])
