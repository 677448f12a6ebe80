"""What a comparison that cannot see its tolerance is told would let it (judge/sizing.py)."""

from __future__ import annotations

import re

from baseline_factories import measurement_from_latencies

from pytest_triton.judge import sizing
from pytest_triton.judge.rows import Row
from pytest_triton.judge.tolerance import Direction, Tolerances
from pytest_triton.judge.verdict import compare
from pytest_triton.result import Measurement

NOISY = [5.0, 5.5, 4.6]  # windows ~9 % apart: three cannot bound a 5 % change


def _p50(base: Measurement, tolerances: Tolerances) -> Row:
    return next(r for r in compare(base, base, tolerances).rows if r.metric == "p50")


def test_the_windows_it_proposes_do_see_the_tolerance() -> None:
    quiet_runner = Tolerances(run_noise=0.005)
    row = _p50(measurement_from_latencies(NOISY), quiet_runner)
    assert row.blind
    found = re.fullmatch(
        r"(\d+) measured windows per step \(--triton-measured-windows=(\d+), about (\d+) s a "
        r"step\) would see it",
        row.advice,
    )
    assert found is not None and found.group(1) == found.group(2)
    n = int(found.group(1))
    assert int(found.group(3)) == round(n * 2.0)  # the factories' windows last 2 s
    assert n > len(NOISY)
    # the same values over the proposed number of windows see it
    assert not _p50(measurement_from_latencies((NOISY * n)[:n]), quiet_runner).blind


def test_when_the_assumed_noise_alone_hides_the_tolerance_more_windows_are_not_offered() -> None:
    row = _p50(measurement_from_latencies(NOISY * 10), Tolerances(run_noise=0.05))
    assert row.blind
    assert row.advice.startswith(
        "the assumed noise of each side alone (--triton-run-noise 5%) keeps it from seeing "
        "less than 21%, however long it measures"
    )


def test_a_row_that_sees_its_tolerance_gets_no_advice() -> None:
    row = _p50(measurement_from_latencies(NOISY * 10), Tolerances(run_noise=0.0))
    assert not row.blind and row.advice == ""


def test_paired_it_proposes_more_block_pairs_in_rounds_of_four() -> None:
    ratios = [1.04, 0.96, 1.04, 0.96]  # pairs 4 % apart: four cannot bound a 5 % change
    text = sizing.advice(Direction.LOWER_IS_BETTER, 0.05, [], [], 0.002, 0.95, ratios)
    found = re.fullmatch(
        r"(\d+) block pairs per step \(--triton-block-pairs=(\d+)\) would see it", text
    )
    assert found is not None and found.group(1) == found.group(2)
    assert int(found.group(1)) > 4 and int(found.group(1)) % 4 == 0
