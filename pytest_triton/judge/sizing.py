"""How much measuring a comparison needs to see its tolerance, said to the user when it cannot.

A row sees its tolerance when its resolution (rows.resolution) is at most SEES times the tolerance,
i.e. when the interval's half-width on the log scale is at most `allowed_half_width`. Against a
stored baseline that half-width comes from the windows of both sides and the run noise
(change.relative_change): more windows shrink the first part only, so the run noise alone sets
a floor no number of windows passes. Paired with the baseline build, the paired noise does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pytest_triton.judge.change import critical_t, mean_var, relative_variance
from pytest_triton.judge.tolerance import Direction

# A comparison sees its tolerance when the smallest change it can call is at most this many
# times the tolerance: then a change of twice the tolerance cannot pass unseen.
SEES = 2.0
# Windows per step beyond which we stop proposing more: past it, raise the window length.
MAX_WINDOWS = 60
# Block pairs per paired step beyond which we stop proposing more (8 cycles of load/paired's
# order, 64 blocks).
MAX_PAIRS = 32


def allowed_half_width(direction: Direction, tolerance: float) -> float:
    """The interval half-width (log scale) at which the resolution is SEES times the
    tolerance."""
    if direction is Direction.LOWER_IS_BETTER:
        return math.log((1.0 + SEES * tolerance) / (1.0 + tolerance))
    if SEES * tolerance >= 1.0:
        return math.inf
    return math.log((1.0 - tolerance) / (1.0 - SEES * tolerance))


def resolution_at(direction: Direction, tolerance: float, half: float) -> float:
    """The smallest change in the worse direction that clears the tolerance with an interval
    of this half-width (log scale): the whole interval must clear it."""
    if direction is Direction.LOWER_IS_BETTER:
        return (1.0 + tolerance) * math.exp(half) - 1.0
    return 1.0 - (1.0 - tolerance) * math.exp(-half)


def windows_to_see(
    direction: Direction,
    tolerance: float,
    base_samples: Sequence[float],
    cur_samples: Sequence[float],
    run_noise: float,
    confidence: float,
) -> int | None:
    """The measured windows per step, on both sides, with which a comparison of windows this
    spread would see the tolerance; None when no number up to MAX_WINDOWS would."""
    cv_b, cv_c = relative_variance(base_samples), relative_variance(cur_samples)
    return windows_for(direction, tolerance, cv_b, cv_c, run_noise, confidence)


def windows_for(
    direction: Direction,
    tolerance: float,
    cv_b: float,
    cv_c: float,
    run_noise: float,
    confidence: float,
) -> int | None:
    """windows_to_see from each side's squared coefficient of variation of one window."""
    target = allowed_half_width(direction, tolerance)
    run_var = 2.0 * run_noise * run_noise
    for n in range(3, MAX_WINDOWS + 1):
        v_b, v_c = cv_b / n, cv_c / n
        se = math.sqrt(v_b + v_c + run_var)
        denominator = (v_b * v_b + v_c * v_c) / (n - 1)
        df = se**4 / denominator if denominator > 0 else math.inf
        if critical_t(confidence, df) * se <= target:
            return n
    return None


def pairs_for(
    direction: Direction,
    tolerance: float,
    pair_var: float,
    paired_noise: float,
    confidence: float,
    step: int,
) -> int | None:
    """The block pairs per step (a multiple of `step`, up to MAX_PAIRS) with which a paired
    comparison whose pairs' log ratios vary by `pair_var` would see the tolerance; None when
    no number would (change.paired_change's interval)."""
    target = allowed_half_width(direction, tolerance)
    noise_var = 2.0 * paired_noise * paired_noise
    for k in range(step, MAX_PAIRS + 1, step):
        v_pairs = pair_var / k
        se = math.sqrt(v_pairs + noise_var)
        df = se**4 / (v_pairs * v_pairs / (k - 1)) if v_pairs > 0 else math.inf
        if critical_t(confidence, df) * se <= target:
            return k
    return None


def noise_floor(direction: Direction, tolerance: float, noise: float, confidence: float) -> float:
    """The resolution that a noise term of each side alone allows, however much is measured."""
    half = critical_t(confidence, math.inf) * math.sqrt(2.0) * noise
    return resolution_at(direction, tolerance, half)


def advice(
    direction: Direction,
    tolerance: float,
    base_samples: Sequence[float],
    cur_samples: Sequence[float],
    noise: float,
    confidence: float,
    pair_ratios: Sequence[float] | None = None,
    window_s: float | None = None,
) -> str:
    """What would let a blind row see its tolerance, in a sentence: more windows per step
    (and how long a step then takes, with windows of `window_s`), or paired with the baseline
    build (`pair_ratios` given) more block pairs."""
    paired = pair_ratios is not None
    name = "--triton-paired-noise" if paired else "--triton-run-noise"
    floor = noise_floor(direction, tolerance, noise, confidence)
    if floor > SEES * tolerance:
        return (
            f"the assumed noise of each side alone ({name} {noise * 100:g}%) keeps it from "
            f"seeing less than {floor * 100:.0f}%, however long it measures: set a tolerance "
            "it can see, or measure the runner's noise with --triton-calibrate"
        )
    if pair_ratios is not None:
        from pytest_triton.load.paired import PAIRS_PER_ORDER

        logs = [math.log(r) for r in pair_ratios if math.isfinite(r) and r > 0]
        if len(logs) < 2:
            return ""
        spread = mean_var(logs)[1]
        k = pairs_for(direction, tolerance, spread, noise, confidence, PAIRS_PER_ORDER)
        if k is None:
            return f"its block pairs vary too much for {MAX_PAIRS} of them"
        return f"{k} block pairs per step (--triton-block-pairs={k}) would see it"
    n = windows_to_see(direction, tolerance, base_samples, cur_samples, noise, confidence)
    if n is None:
        return f"its windows vary too much for {MAX_WINDOWS} of them: lengthen the windows"
    how_long = f", about {n * window_s:.0f} s a step" if window_s else ""
    return f"{n} measured windows per step (--triton-measured-windows={n}{how_long}) would see it"
