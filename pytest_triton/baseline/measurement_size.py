"""Sizing a test's measurement from its calibration (--triton-size-measurement).

A comparison sees a row's tolerance when the smallest change it could call is at most twice
the tolerance (judge/sizing.py). Against a stored baseline that depends on the windows per step
(how far one window moves, from the calibration) and the run noise; paired with the baseline
build, on the block pairs per step (how far one pair's ratio moves) and the paired noise. Given
the runner's calibration, each row needs some number of windows or pairs to see its tolerance:
the measurement gets the most any row needs. A row whose noise alone keeps it from seeing its
tolerance at any size is named instead, with the resolution its noise allows: measuring
longer would not help it, a wider tolerance or a quieter runner would.

Both sides of a stored comparison are assumed measured alike: size the baseline too, by
updating it with the same option.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pytest_triton.baseline.calibration import CalibrationSession, RunnerNoise
from pytest_triton.judge import sizing
from pytest_triton.judge.tolerance import METRICS, Tolerances
from pytest_triton.load.paired import PAIRS_PER_ORDER, block_windows
from pytest_triton.spec import LoadSpec


@dataclass(frozen=True)
class Sized:
    """The load to measure with, and what to tell the user about it."""

    load: LoadSpec
    note: str


def size_measurement(
    load: LoadSpec,
    sessions: Sequence[CalibrationSession],
    noise: RunnerNoise,
    tolerances: Tolerances,
    paired_noise: float,
    paired: bool,
) -> Sized:
    """The load sized to see each row's tolerance (module docstring)."""
    gated = tolerances.gated()
    needed: list[int] = []
    blind: list[str] = []
    names = sorted({name for s in sessions for name in s.rows})
    for name in names:
        metric = name.rsplit(" ", 1)[-1]
        if metric not in gated:
            continue
        tolerance, direction = gated[metric], METRICS[metric].direction
        samples = [s.rows[name] for s in sessions if name in s.rows]
        if paired:
            known = [r.pair_var for r in samples if r.pairs > 1]
            row_noise = noise.paired.get(name, paired_noise)
        else:
            known = [r.window_var for r in samples if r.windows > 1]
            row_noise = noise.run.get(name, tolerances.run_noise)
        if not known:
            continue
        spread = math.fsum(known) / len(known)
        if paired:
            n = sizing.pairs_for(
                direction, tolerance, spread, row_noise, tolerances.confidence, PAIRS_PER_ORDER
            )
        else:
            n = sizing.windows_for(
                direction, tolerance, spread, spread, row_noise, tolerances.confidence
            )
        if n is not None:
            needed.append(n)
            continue
        floor = sizing.noise_floor(direction, tolerance, row_noise, tolerances.confidence)
        if floor > sizing.SEES * tolerance:
            blind.append(f"{name} (its noise alone allows {floor * 100:.0f}%)")
        else:
            blind.append(f"{name} (no size up to the limit would do)")
    if not needed and not blind:
        return Sized(
            load,
            "not sized: the calibration has no window or pair counts; calibrate again with "
            "this version (--triton-calibrate)",
        )
    if not needed:  # no size helps any row: measure as configured
        return Sized(
            load,
            f"measurement not sized: no row can see its tolerance at any size on "
            f"this runner: {', '.join(blind)}",
        )
    if paired:
        pairs = max(needed)
        sized = replace(load, block_pairs=pairs)
        block_s = load.warmup_s + block_windows(load.measured_windows) * load.window_s
        per_step = 2 * pairs * block_s
        what = f"{pairs} block pairs per step"
    else:
        windows = max(needed)
        spare = max(0, load.max_trials - load.measured_windows)  # the windows to stabilise in
        sized = replace(load, measured_windows=windows, max_trials=windows + spare)
        per_step = load.warmup_s + windows * load.window_s
        what = f"{windows} measured windows per step"
    note = (
        f"measurement sized from the calibration: {what} (about {per_step:.0f} s a step) to "
        "see the tolerance"
    )
    if blind:
        note += (
            f" in every row that can; these cannot at any size on this runner: {', '.join(blind)}"
        )
    return Sized(sized, note)
