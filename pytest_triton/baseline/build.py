"""The baseline build's models, loaded beside the current ones for a paired comparison.

`--triton-baseline-build PATH` names the model repository of the build to compare against (a
`git worktree` of the target branch, a released artifact unpacked). Each model a test measures
that also exists there is loaded from those files under `<model>__baseline_build` on the same
server, with the same config override, and measured in turn with the current one
(load/paired.py). The files travel in the load request (Triton's file override), so this works
for local, docker and remote servers alike and never touches the user's repository.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_triton.baseline.model_identity import ModelFiles, files_digest, model_files
from pytest_triton.errors import ConfigError
from pytest_triton.models import ModelController, effective_config, read_repository_config
from pytest_triton.spec import ModelSpec

SUFFIX = "__baseline_build"


@dataclass(frozen=True)
class BuildCopy:
    """The baseline build's copy of one model, as loaded on the server."""

    name: str  # the name it is served under
    repository: Path
    files: ModelFiles
    # Its effective config as the server reports it, under the current model's name, so that a
    # comparison names only what really differs between the builds.
    config: dict[str, Any] = field(default_factory=dict)


class BaselineBuild:
    def __init__(self, repository: Path) -> None:
        if not repository.is_dir():
            raise ConfigError(
                f"--triton-baseline-build {repository} is not a directory: give the baseline "
                "build's model repository (e.g. a `git worktree add` of the target branch)"
            )
        self.repository = repository
        self._loaded: dict[str, tuple[str, BuildCopy]] = {}  # served name -> (key, copy)

    def has(self, model: str) -> bool:
        return (self.repository / model).is_dir()

    def load(self, controller: ModelController, spec: ModelSpec) -> BuildCopy:
        """Load the baseline build's `spec.name` with `spec`'s override (once per override)."""
        name = spec.name + SUFFIX
        key = spec.load_key()
        loaded = self._loaded.get(name)
        if loaded is not None and loaded[0] == key and controller.is_ready(name):
            return loaded[1]
        self._loaded.pop(name, None)
        directory = self.repository / spec.name
        base = read_repository_config(self.repository, spec.name)
        if base is None:
            raise ConfigError(
                f"the baseline build's model {spec.name!r} ({directory}) has no config.pbtxt: "
                "a copy loaded from files needs its config; add one to compare with it"
            )
        # Read once: the same bytes are hashed (what the comparison names as changed) and sent.
        contents = {rel: path.read_bytes() for rel, path in model_files(directory)}
        served = controller.load_files(
            ModelSpec(name, spec.version, spec.config, spec.load_timeout_s),
            effective_config(base, spec.config, name),
            {rel: data for rel, data in contents.items() if rel != "config.pbtxt"},
        )
        hashes = {rel: hashlib.sha256(data).hexdigest() for rel, data in contents.items()}
        copy = BuildCopy(name, self.repository, files_digest(hashes), _renamed(served, spec))
        self._loaded[name] = (key, copy)
        return copy


def _renamed(config: dict[str, Any], spec: ModelSpec) -> dict[str, Any]:
    """The copy's config under the current model's name: Triton names instance groups after
    the model (`<model>_0`), which would otherwise read as a difference between the builds."""
    served = spec.name + SUFFIX
    groups = [
        {**g, "name": spec.name + g["name"][len(served) :]}
        if str(g.get("name", "")).startswith(served)
        else g
        for g in config.get("instance_group", [])
    ]
    out = {**config, "name": spec.name}
    if "instance_group" in config:
        out["instance_group"] = groups
    return out
