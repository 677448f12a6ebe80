"""Graceful Ctrl-C: the first press asks to stop after the current step, the second stops now."""

from __future__ import annotations

import os
import signal

import pytest

from pytest_triton.interrupt import GracefulInterrupt


def test_first_press_requests_a_stop_second_raises_and_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGINT)
    messages: list[str] = []
    interrupt = GracefulInterrupt(messages.append)
    assert interrupt.install()
    try:
        interrupt.check()  # nothing asked yet
        os.kill(os.getpid(), signal.SIGINT)  # a real signal, delivered to this main thread
        assert interrupt.requested
        assert "finishing the current step" in messages[0]
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is before  # second press gave the default back
    finally:
        interrupt.uninstall()
    assert signal.getsignal(signal.SIGINT) is before
