"""The baseline build's copy of a model: what is sent to the server, and under which name."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_triton.baseline.build import BaselineBuild
from pytest_triton.errors import ConfigError
from pytest_triton.models import ModelController
from pytest_triton.spec import ModelSpec


class RecordingController(ModelController):
    """Triton's answers for a load from files: the config it was sent, as served."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1:1", None)
        self.bodies: list[tuple[str, dict[str, Any]]] = []

    def _post_load(self, spec: ModelSpec, body: dict[str, Any]) -> None:
        self.bodies.append((spec.name, body))

    def is_ready(self, name: str, version: str | None = None) -> bool:
        return bool(self.bodies)

    def config(self, name: str) -> dict[str, Any]:
        sent = json.loads(self.bodies[-1][1]["parameters"]["config"])
        groups = [{**g, "name": f"{name}_{i}"} for i, g in enumerate(sent["instance_group"])]
        return {**sent, "instance_group": groups}


def _repository(tmp_path: Path) -> Path:
    model = tmp_path / "base" / "tiny"
    (model / "1" / "__pycache__").mkdir(parents=True)
    (model / "1" / "model.py").write_text("# the baseline build's code\n")
    (model / "1" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\0")
    (model / "config.pbtxt").write_text(
        'backend: "python"\nmax_batch_size: 8\ninstance_group [ { kind: KIND_CPU, count: 1 } ]\n'
    )
    return tmp_path / "base"


def test_a_copy_loads_from_its_files_with_the_tests_override(tmp_path: Path) -> None:
    build = BaselineBuild(_repository(tmp_path))
    controller = RecordingController()
    override = {"instance_group": [{"kind": "KIND_CPU", "count": 2}]}
    copy = build.load(controller, ModelSpec("tiny", config=override))

    ((name, body),) = controller.bodies
    assert name == copy.name == "tiny__baseline_build"
    parameters = body["parameters"]
    # the model's own files travel with the request; build leftovers and the config do not
    assert sorted(parameters) == ["config", "file:1/model.py"]
    assert base64.b64decode(parameters["file:1/model.py"]) == b"# the baseline build's code\n"
    sent = json.loads(parameters["config"])
    assert sent["name"] == name and sent["max_batch_size"] == 8
    assert sent["instance_group"] == override["instance_group"]
    # under the current model's name, so a comparison names only what differs between builds
    assert copy.config["name"] == "tiny"
    assert copy.config["instance_group"][0]["name"] == "tiny_0"
    assert list(copy.files.files) == ["1/model.py", "config.pbtxt"]

    # loaded once per override
    assert build.load(controller, ModelSpec("tiny", config=override)) is copy
    assert len(controller.bodies) == 1


def test_a_copy_without_config_or_a_missing_build_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a directory: give the baseline build's model"):
        BaselineBuild(tmp_path / "nowhere")
    repository = _repository(tmp_path)
    (repository / "tiny" / "config.pbtxt").unlink()
    build = BaselineBuild(repository)
    assert build.has("tiny") and not build.has("other")
    with pytest.raises(ConfigError, match="has no config.pbtxt: a copy loaded from files"):
        build.load(RecordingController(), ModelSpec("tiny"))
