"""The native driver's judgement of a lost connection (load/native/driver.py)."""

from __future__ import annotations

import time

from pytest_triton.load.native.driver import died_within


def test_a_server_reaped_just_after_its_sockets_closed_counts_as_died() -> None:
    """A kill -9 closes the server's sockets before the server can be reaped: the workers see
    the reset first, and the liveness check a moment later. Once that made a killed server's
    test fail with 'connection reset by peer' instead of 'Triton died' (seen in CI)."""
    reaped_at = time.monotonic() + 0.3
    assert died_within(lambda: time.monotonic() < reaped_at, grace_s=2.0)


def test_a_server_still_alive_after_the_grace_did_not_die() -> None:
    assert not died_within(lambda: True, grace_s=0.2)
