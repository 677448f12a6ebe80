"""Stopping when asked: a first Ctrl-C waits only for a measurement step in progress, a second
stops at once, and SIGTERM takes the first path with a deadline (real signals to this process)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from pytest_triton import interrupt as interrupt_module
from pytest_triton.interrupt import GracefulInterrupt, measuring, stop_point


@pytest.fixture
def interrupt():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    messages: list[str] = []
    handler = GracefulInterrupt(messages.append)
    assert handler.install()
    handler.messages = messages  # type: ignore[attr-defined]
    yield handler
    handler.uninstall()
    assert {s: signal.getsignal(s) for s in before} == before


def test_outside_a_step_the_first_ctrl_c_stops_at_once(interrupt) -> None:
    """A plain test, a model load or a server start once went on after a Ctrl-C."""
    stop_point()  # nothing asked yet
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    assert "stopping now" in interrupt.messages[0]


def test_in_a_step_the_first_ctrl_c_waits_for_its_end(interrupt) -> None:
    with measuring():
        os.kill(os.getpid(), signal.SIGINT)  # delivered to this main thread
        assert interrupt.requested and "finishing the current step" in interrupt.messages[0]
    with pytest.raises(KeyboardInterrupt):
        stop_point()  # the step's end


def test_in_a_step_a_second_ctrl_c_stops_at_once(interrupt) -> None:
    with measuring():
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)


def test_sigterm_waits_for_the_step_only_until_its_deadline(interrupt, monkeypatch) -> None:
    monkeypatch.setattr(interrupt_module, "TERM_DEADLINE_S", 0.3)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), measuring():
        os.kill(os.getpid(), signal.SIGTERM)
        assert "SIGTERM: finishing the current step" in interrupt.messages[0]
        while time.monotonic() - started < 10:  # a step that does not end
            time.sleep(0.05)
    assert time.monotonic() - started < 5
