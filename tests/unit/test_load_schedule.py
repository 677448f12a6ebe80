"""Open-loop send schedules: constant spacing and a seeded Poisson process."""

from __future__ import annotations

import itertools
import statistics

import pytest

from pytest_triton.load.native.schedule import send_times


def test_constant_rate_is_evenly_spaced_without_drift():
    times = list(itertools.islice(send_times(3.0, "constant", 1000), 3001))
    assert times[0] == 1000
    gaps = {b - a for a, b in itertools.pairwise(times)}
    assert gaps <= {333_333_333, 333_333_334}
    assert times[-1] == 1000 + 1_000_000_000_000  # 3000 gaps of 1/3 s: exactly 1000 s


def test_poisson_gaps_are_exponential_with_the_right_mean():
    rate = 200.0
    times = list(itertools.islice(send_times(rate, "poisson", 0, seed=7), 20001))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    mean = statistics.fmean(gaps)
    assert mean == pytest.approx(1e9 / rate, rel=0.03)
    # exponential: standard deviation equals the mean (coefficient of variation 1)
    assert statistics.pstdev(gaps) / mean == pytest.approx(1.0, abs=0.05)
    # memoryless: about e^-1 of gaps exceed the mean
    assert sum(g > mean for g in gaps) / len(gaps) == pytest.approx(0.368, abs=0.02)


def test_poisson_schedule_is_reproducible_by_seed():
    a = list(itertools.islice(send_times(50.0, "poisson", 0, seed=1), 100))
    b = list(itertools.islice(send_times(50.0, "poisson", 0, seed=1), 100))
    c = list(itertools.islice(send_times(50.0, "poisson", 0, seed=2), 100))
    assert a == b and a != c


def test_bad_schedule_arguments():
    with pytest.raises(ValueError):
        next(send_times(0, "constant", 0))
    with pytest.raises(ValueError):
        next(send_times(1, "bursty", 0))
