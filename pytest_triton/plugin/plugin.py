"""The pytest11 entry point: options, markers, fixtures and hooks of pytest-triton.

Only this module is registered; it pulls in the fixture and hook modules so pytest sees them.
Nothing heavy is imported here: a suite without triton tests pays for option parsing only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .fixtures import triton, triton_models, triton_server
from .hooks import (
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_exception_interact,
    pytest_runtest_call,
    pytest_sessionfinish,
    pytest_terminal_summary,
)
from .options import add_options

# The baseline gate is a plugin module of its own (options, marker, hooks); see baseline.py.
pytest_plugins = ["pytest_triton.plugin.baseline"]

__all__ = [
    "pytest_addhooks",
    "pytest_addoption",
    "pytest_collect_file",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_exception_interact",
    "pytest_runtest_call",
    "pytest_sessionfinish",
    "pytest_terminal_summary",
    "triton",
    "triton_models",
    "triton_server",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    from .yaml_items import collect_yaml

    return collect_yaml(file_path, parent)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)
