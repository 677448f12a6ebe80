import pytest

from pytest_triton.errors import ServerDiedError, ServerStartError
from pytest_triton.server.readiness import Probe, wait_until_ready


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


def _wait(probe, alive=lambda: True, timeout=5.0, expected_id="ours"):
    clock = FakeClock()
    return wait_until_ready(
        "127.0.0.1:1",
        timeout_s=timeout,
        is_alive=alive,
        log_tail=lambda: "E0000 something broke",
        expected_id=expected_id,
        probe=probe,
        clock=clock,
        sleep=clock.sleep,
    ), clock


def test_ready_when_our_server_answers():
    answers = iter([Probe(False), Probe(False), Probe(True, "ours", "2.51.0")])
    probe, clock = _wait(lambda http: next(answers))
    assert probe.version == "2.51.0"
    assert clock.now == pytest.approx(0.4)


def test_a_stale_server_on_the_port_is_not_taken_for_ours():
    with pytest.raises(ServerStartError, match="another Triton server .*'theirs'") as err:
        _wait(lambda http: Probe(True, "theirs"))
    assert "something broke" in str(err.value)


def test_death_before_ready_shows_the_log_tail():
    with pytest.raises(ServerDiedError, match="exited before becoming ready") as err:
        _wait(lambda http: Probe(False), alive=lambda: False)
    assert err.value.log_tail == "E0000 something broke"


def test_deadline_is_enforced_with_the_fix_named():
    with pytest.raises(ServerStartError, match="not ready .* within 5s .*--triton-startup-timeout"):
        _wait(lambda http: Probe(False))
