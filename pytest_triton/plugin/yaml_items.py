"""Model Analyzer YAML configs collected as tests: `pytest perf.yaml` runs one search per
profiled model, as `@triton_model` + `@triton_slo` + `@triton_search` tests would.

A YAML file is collected when it is named on the command line and holds `profile_models`, or
when its name matches a `--triton-yaml` / ini `triton_yaml` pattern. What a file says about
the session (its model repository, server, flags, checkpoint directory) applies when the
command line and ini do not say otherwise; a file that contradicts them, or another file, is
an error naming both.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .options import get_option, given_option

if TYPE_CHECKING:
    from pytest_triton.yaml_suite.config import ProfiledModel, YamlSuite

SUFFIXES = (".yaml", ".yml")
_SET_BY = pytest.StashKey[dict[str, tuple[Any, Path]]]()  # option -> (value, file that set it)


def collect_yaml(file_path: Path, parent: pytest.Collector) -> YamlSuiteFile | None:
    """pytest_collect_file's answer for a YAML file (None: not a suite)."""
    if file_path.suffix not in SUFFIXES:
        return None
    config = parent.config
    patterns = get_option(config, "triton_yaml")
    matched = any(fnmatch.fnmatch(file_path.name, p) for p in patterns)
    if not matched:
        from pytest_triton.yaml_suite.config import holds_profile_models

        if not (_named(config, file_path) and holds_profile_models(file_path)):
            return None
    file: YamlSuiteFile = YamlSuiteFile.from_parent(parent, path=file_path)
    return file


def _named(config: pytest.Config, path: Path) -> bool:
    """Whether the file was named on the command line (not found by walking a directory)."""
    for arg in config.args:
        named = Path(arg.split("::", 1)[0])
        if not named.is_absolute():
            named = config.invocation_params.dir / named
        if named.resolve() == path.resolve():
            return True
    return False


class YamlSuiteFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from pytest_triton.yaml_suite.config import read_suite

        suite = read_suite(self.path)
        _apply_session(self.config, suite)
        if suite.ignored:
            self.warn(
                pytest.PytestWarning(
                    f"{self.path.name}: Model Analyzer settings ignored here (they shape its own "
                    f"output): {', '.join(suite.ignored)}"
                )
            )
        for model in suite.models:
            yield _item(self, model)

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str:
        from pytest_triton.errors import ConfigError

        if isinstance(excinfo.value, ConfigError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))


class YamlSearchItem(pytest.Function):
    """A profiled model's search; reported at its line of the YAML file."""

    line: int = 0

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.line - 1, f"{self.name} (profile_models)"


def _search_model(triton: Any) -> None:
    triton.search()


def _item(parent: YamlSuiteFile, model: ProfiledModel) -> YamlSearchItem:
    item: YamlSearchItem = YamlSearchItem.from_parent(
        parent, name=model.name, callobj=_search_model
    )
    item.line = model.line
    item.add_marker(pytest.mark.triton_model(model.name))
    item.add_marker(pytest.mark.triton_search(**model.search))
    if model.slo:
        item.add_marker(pytest.mark.triton_slo(**model.slo))
    if model.load:
        item.add_marker(pytest.mark.triton_load(**model.load))
    return item


def _apply_session(config: pytest.Config, suite: YamlSuite) -> None:
    """The file's session settings, where nothing else set them (module docstring)."""
    from pytest_triton.yaml_suite.config import YamlSuiteError

    set_by = config.stash.setdefault(_SET_BY, {})
    for name, value in suite.session.items():
        earlier = set_by.get(name)
        if earlier is not None:
            if earlier[0] != value:
                raise YamlSuiteError(
                    f"{suite.path}: {name} {value} contradicts {earlier[1]} ({earlier[0]}): "
                    "one session has one server; run them apart"
                )
            continue
        given = given_option(config, name)
        if given is not None:
            if _same(given, value):
                continue
            raise YamlSuiteError(
                f"{suite.path}: its {name} {value} contradicts the command line or ini "
                f"({given}); drop one of them"
            )
        setattr(config.option, name, _as_option(value))
        set_by[name] = (value, suite.path)


def _same(given: Any, value: Any) -> bool:
    if isinstance(value, Path):
        return Path(str(given)).resolve() == value.resolve()
    if isinstance(value, tuple):
        return tuple(given) == value
    return bool(given == value)


def _as_option(value: Any) -> Any:
    """As the command line would have given it."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value
