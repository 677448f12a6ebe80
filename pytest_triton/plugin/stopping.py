"""Ctrl-C and SIGTERM for a session that uses Triton (pytest_triton.interrupt): installed once,
before the server starts or anything is measured, and removed at session end."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_triton.interrupt import GracefulInterrupt

INTERRUPT_KEY = pytest.StashKey["GracefulInterrupt"]()


def install_interrupt(config: pytest.Config) -> GracefulInterrupt | None:
    """The session's handler, installed on first use (None off the main thread)."""
    from pytest_triton.interrupt import GracefulInterrupt

    interrupt = config.stash.get(INTERRUPT_KEY, None)
    if interrupt is None:
        interrupt = GracefulInterrupt(lambda message: announce(config, message))
        if not interrupt.install():
            return None
        config.stash[INTERRUPT_KEY] = interrupt
    return interrupt


def uninstall_interrupt(config: pytest.Config) -> None:
    interrupt = config.stash.get(INTERRUPT_KEY, None)
    if interrupt is not None:
        interrupt.uninstall()


def announce(config: pytest.Config, message: str) -> None:
    """Write past output capturing: the notice comes while a test's output is captured, and a
    captured notice would be lost with the interrupted test's output."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    capture = config.pluginmanager.get_plugin("capturemanager")
    suspended = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
    with suspended:
        reporter.write_line("")
        reporter.write_line(message, yellow=True, bold=True)
