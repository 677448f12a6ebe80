"""Both builds' models, loaded the same way side by side for a paired comparison.

`--triton-baseline-build PATH` names the model repository of the build to compare against (a
`git worktree` of the target branch, a released artifact unpacked). Each model a test measures
that also exists there is loaded twice on the same server, with the test's config override:
the baseline build's files under `<model>__baseline_build`, the current build's files (from
--triton-model-repository) under `<model>__current__build`. Then the two are measured in turn
(load/paired.py). The files travel in the load request (Triton's file override), so this works
for local, docker and remote servers alike and never touches the user's repository.

Why the current build is loaded again rather than measured as `<model>`: two copies of one model
loaded differently do not run at the same speed. With the current build served from the
repository and only its copy from files, `numpy_compute` read slower than an identical copy in
every one of 10 sessions (+7 % on average), and padding the server's environment moved that
offset: a memory-layout bias that follows how each copy's process starts (its model name and
path). Loaded alike, under names of equal length, neither build starts with an advantage
(docs/validation.md, "Paired copies").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_triton.baseline.model_identity import ModelFiles, files_digest, model_files
from pytest_triton.errors import ConfigError
from pytest_triton.server.models import ModelController, effective_config, read_repository_config
from pytest_triton.spec import ModelSpec

SUFFIX = "__baseline_build"
# As long as SUFFIX: the two copies' processes then start with arguments of equal length.
CURRENT_SUFFIX = "__current__build"


@dataclass(frozen=True)
class BuildCopy:
    """One build's copy of a model, as loaded on the server."""

    name: str  # the name it is served under
    repository: Path
    files: ModelFiles
    # Its effective config as the server reports it, under the current model's name, so that a
    # comparison names only what really differs between the builds.
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BuildPair:
    """What a paired measurement measures: both builds' copies of one model."""

    current: BuildCopy
    baseline: BuildCopy


class BaselineBuild:
    def __init__(self, repository: Path, current: Path | None) -> None:
        if not repository.is_dir():
            raise ConfigError(
                f"--triton-baseline-build {repository} is not a directory: give the baseline "
                "build's model repository (e.g. a `git worktree add` of the target branch)"
            )
        if current is None or not current.is_dir():
            raise ConfigError(
                "--triton-baseline-build loads both builds' models from their files, the same "
                "way (identical copies loaded differently ran up to 12 % apart): give the "
                "current build's model repository with --triton-model-repository"
                + (f" ({current} is not a directory)" if current is not None else "")
            )
        self.repository = repository
        self.current = current
        self._loaded: dict[str, tuple[str, BuildCopy]] = {}  # served name -> (key, copy)

    def has(self, model: str) -> bool:
        """Both builds have `model` (else it is measured and judged on its own)."""
        return (self.repository / model).is_dir() and (self.current / model).is_dir()

    def load(self, controller: ModelController, spec: ModelSpec) -> BuildPair:
        """Load both builds' `spec.name` with `spec`'s override (once per override)."""
        current = self._load(controller, spec, self.current, CURRENT_SUFFIX, "current")
        baseline = self._load(controller, spec, self.repository, SUFFIX, "baseline")
        return BuildPair(current, baseline)

    def _load(
        self,
        controller: ModelController,
        spec: ModelSpec,
        repository: Path,
        suffix: str,
        build: str,
    ) -> BuildCopy:
        name = spec.name + suffix
        key = spec.load_key()
        loaded = self._loaded.get(name)
        if loaded is not None and loaded[0] == key and controller.is_ready(name):
            return loaded[1]
        self._loaded.pop(name, None)
        directory = repository / spec.name
        base = read_repository_config(repository, spec.name)
        if base is None:
            raise ConfigError(
                f"the {build} build's model {spec.name!r} ({directory}) has no config.pbtxt: "
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
        copy = BuildCopy(name, repository, files_digest(hashes), _renamed(served, spec, suffix))
        self._loaded[name] = (key, copy)
        return copy


def _renamed(config: dict[str, Any], spec: ModelSpec, suffix: str) -> dict[str, Any]:
    """The copy's config under the current model's name: Triton names instance groups after
    the model (`<model>_0`), which would otherwise read as a difference between the builds."""
    served = spec.name + suffix
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
