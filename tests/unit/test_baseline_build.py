"""Both builds' copies of a model: what is sent to the server, and under which names."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_triton.baseline.build import BaselineBuild
from pytest_triton.errors import ConfigError
from pytest_triton.server.models import ModelController
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
        sent = json.loads(dict(self.bodies)[name]["parameters"]["config"])
        groups = [{**g, "name": f"{name}_{i}"} for i, g in enumerate(sent["instance_group"])]
        return {**sent, "instance_group": groups}


def _repository(tmp_path: Path, build: str = "base") -> Path:
    model = tmp_path / build / "tiny"
    (model / "1" / "__pycache__").mkdir(parents=True)
    (model / "1" / "model.py").write_text(f"# the {build} build's code\n")
    (model / "1" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\0")
    (model / "config.pbtxt").write_text(
        'backend: "python"\nmax_batch_size: 8\ninstance_group [ { kind: KIND_CPU, count: 1 } ]\n'
    )
    return tmp_path / build


def test_both_builds_load_from_their_files_with_the_tests_override(tmp_path: Path) -> None:
    build = BaselineBuild(_repository(tmp_path), _repository(tmp_path, "head"))
    controller = RecordingController()
    override = {"instance_group": [{"kind": "KIND_CPU", "count": 2}]}
    pair = build.load(controller, ModelSpec("tiny", config=override))
    copy = pair.baseline

    (current_name, current_body), (name, body) = controller.bodies
    assert name == copy.name == "tiny__baseline_build"
    # loaded alike: names of one length, so neither copy's process starts differently
    assert current_name == pair.current.name == "tiny__current__build"
    assert len(current_name) == len(name)
    # the test's effective config is the current copy's, under the model's own name
    assert pair.current.config["name"] == "tiny"
    assert pair.current.config["instance_group"][0]["name"] == "tiny_0"
    current = current_body["parameters"]
    assert base64.b64decode(current["file:1/model.py"]) == b"# the head build's code\n"
    assert json.loads(current["config"])["instance_group"] == override["instance_group"]
    parameters = body["parameters"]
    # the model's own files travel with the request; build leftovers and the config do not
    assert sorted(parameters) == ["config", "file:1/model.py"]
    assert base64.b64decode(parameters["file:1/model.py"]) == b"# the base build's code\n"
    sent = json.loads(parameters["config"])
    assert sent["name"] == name and sent["max_batch_size"] == 8
    assert sent["instance_group"] == override["instance_group"]
    # under the current model's name, so a comparison names only what differs between builds
    assert copy.config["name"] == "tiny"
    assert copy.config["instance_group"][0]["name"] == "tiny_0"
    assert list(copy.files.files) == ["1/model.py", "config.pbtxt"]

    # loaded once per override
    assert build.load(controller, ModelSpec("tiny", config=override)) == pair
    assert len(controller.bodies) == 2


def test_a_copy_without_config_or_a_missing_build_is_a_clear_error(tmp_path: Path) -> None:
    head = _repository(tmp_path, "head")
    with pytest.raises(ConfigError, match="is not a directory: give the baseline build's model"):
        BaselineBuild(tmp_path / "nowhere", head)
    repository = _repository(tmp_path)
    with pytest.raises(ConfigError, match="give the current build's model repository with "):
        BaselineBuild(repository, None)
    (repository / "tiny" / "config.pbtxt").unlink()
    (repository / "only_in_base").mkdir()
    build = BaselineBuild(repository, head)
    assert build.has("tiny") and not build.has("other")
    # a model the current build lacks is not paired: its own load names the missing model
    assert not build.has("only_in_base")
    with pytest.raises(ConfigError, match="has no config.pbtxt: a copy loaded from files"):
        build.load(RecordingController(), ModelSpec("tiny"))
