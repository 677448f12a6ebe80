"""A measurement sized from the runner's calibration sees the tolerance it was sized for."""

from __future__ import annotations

import math
import re
import statistics

from baseline_factories import measurement_from_latencies

from pytest_triton.baseline.calibration import CalibrationSession, RowSample, RunnerNoise
from pytest_triton.baseline.measurement_size import size_measurement
from pytest_triton.judge import sizing
from pytest_triton.judge.change import critical_t
from pytest_triton.judge.tolerance import Direction, Tolerances
from pytest_triton.judge.verdict import compare
from pytest_triton.spec import LoadSpec

P50_ONLY = Tolerances(values={"p50": 0.05})
LOAD = LoadSpec(concurrency=(4,), measured_windows=5, max_trials=10, window_s=1.0, warmup_s=1.0)


def _sessions(window_cv: float, windows: int = 5, pair_sd: float = 0.0, pairs: int = 4):
    """Three A/A sessions whose windows moved window_cv apart and whose pairs pair_sd."""
    row = RowSample(5.0, window_cv**2 / windows, 0.0, pair_sd**2 / pairs, windows, pairs)
    return [CalibrationSession("2026-11-30T00:00:00Z", {"c4 p50": row})] * 3


def _windows(note: str) -> int:
    found = re.search(r"(\d+) measured windows per step", note)
    assert found is not None, note
    return int(found.group(1))


def test_the_windows_it_sizes_see_the_tolerance_where_the_configured_ones_did_not() -> None:
    cv = 0.06  # windows 6 % apart
    quiet = RunnerNoise(3, run={"c4 p50": 0.005})
    sized = size_measurement(LOAD, _sessions(cv), quiet, P50_ONLY, 0.03, paired=False)
    n = sized.load.measured_windows
    assert n > LOAD.measured_windows and _windows(sized.note) == n
    assert sized.load.max_trials == n + 5  # the same spare windows to stabilise in
    assert "about" in sized.note and "cannot" not in sized.note

    def p50_row(windows: int):
        # windows whose relative SD is cv, as the calibration saw them
        z = [float(i % 3) for i in range(windows)]
        mean, sd = statistics.fmean(z), statistics.stdev(z)
        m = measurement_from_latencies([5.0 * (1 + cv * (v - mean) / sd) for v in z])
        tolerances = Tolerances(values={"p50": 0.05}, run_noise=0.005)
        return next(r for r in compare(m, m, tolerances).rows if r.metric == "p50")

    assert p50_row(LOAD.measured_windows).blind
    assert not p50_row(n).blind


def test_a_row_its_noise_hides_is_named_and_the_measurement_is_left_as_configured() -> None:
    noisy = RunnerNoise(3, run={"c4 p50": 0.08})  # 8 % between sessions: 5 % is out of sight
    sized = size_measurement(LOAD, _sessions(0.01), noisy, P50_ONLY, 0.03, paired=False)
    assert sized.load == LOAD
    found = re.search(r"c4 p50 \(its noise alone allows (\d+)%\)", sized.note)
    assert found is not None and int(found.group(1)) > 10, sized.note
    assert sized.note.startswith("measurement not sized: no row can see its tolerance")


def test_paired_it_sizes_block_pairs_in_whole_rounds_of_four() -> None:
    quiet = RunnerNoise(3, paired={"c4 p50": 0.002})
    sized = size_measurement(
        LOAD, _sessions(0.01, pair_sd=0.04), quiet, P50_ONLY, 0.03, paired=True
    )
    pairs = sized.load.block_pairs
    assert pairs > 4 and pairs % 4 == 0
    assert sized.load.measured_windows == LOAD.measured_windows
    assert f"{pairs} block pairs per step" in sized.note
    # fewer pairs would not have seen it: a t-interval on the pairs' mean log ratio
    allowed = sizing.allowed_half_width(Direction.LOWER_IS_BETTER, 0.05)
    for k, sees in ((pairs - 4, False), (pairs, True)):
        se = math.sqrt(0.04**2 / k + 2 * 0.002**2)
        assert (critical_t(0.95, k - 1) * se <= allowed) is sees


def test_a_calibration_without_window_counts_is_not_used_to_size() -> None:
    old = [
        CalibrationSession("2026-11-30T00:00:00Z", {"c4 p50": RowSample(5.0, 1e-4, 0.0, 1e-4)})
    ] * 3
    sized = size_measurement(LOAD, old, RunnerNoise(3), P50_ONLY, 0.03, paired=False)
    assert sized.load == LOAD
    assert "calibrate again" in sized.note
