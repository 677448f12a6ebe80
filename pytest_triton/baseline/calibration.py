"""The runner's own noise, measured instead of assumed: A/A sessions per test and environment.

`--triton-calibrate` measures each test's models against an identical copy of themselves,
loaded the way a paired comparison loads two builds (baseline/build.py) and measured in turn
in block pairs (load/paired.py). Each such session keeps, per row (load point and metric):

* the step's value and the variance its windows give it: over sessions, how far one
  session's value moves beyond its windows is the run noise a stored baseline carries;
* the mean log ratio of the two copies over the pairs and its variance from the pairs'
  spread: over sessions (fresh copies, fresh processes), how far identical copies sit apart
  beyond their pairs is the paired noise.

From MIN_SESSIONS sessions on, a comparison in the same environment (exact fingerprint) uses
these instead of --triton-run-noise / --triton-paired-noise. A few sessions are a poor
estimate of a variance, so each measured one is blended with the option's value as a prior
worth PRIOR_SESSIONS sessions, as a baseline's own sessions are (judge/change.py): a quiet
runner earns a narrower interval by calibrating more, a noisy one gets a wider one at once.

One file per test under the calibration directory (default `<rootdir>/triton-calibration`),
at the path its baseline has under the baseline directory, environments side by side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_triton.baseline.atomic import atomic_write_text
from pytest_triton.baseline.codec import dumps
from pytest_triton.baseline.envelope import FileKind, read_envelope, read_file
from pytest_triton.baseline.fingerprint import Fingerprint
from pytest_triton.baseline.store import relative_path, utc_now
from pytest_triton.errors import BaselineError
from pytest_triton.judge.change import blended_variance, mean_var, relative_variance
from pytest_triton.judge.rows import block_pair_ratios
from pytest_triton.judge.tolerance import METRICS
from pytest_triton.record import Paired
from pytest_triton.result import Measurement, metric_value

SCHEMA = "pytest-triton/calibration"
SCHEMA_VERSION = 1
# Sessions before a calibration is used: with fewer, one lucky session would set the noise.
MIN_SESSIONS = 3
# Sessions kept per environment, oldest dropped first: a runner changes over months.
MAX_SESSIONS = 20


@dataclass(frozen=True)
class RowSample:
    """What one A/A session saw at one row."""

    value: float  # the step's value of the measured copy
    value_var: float  # the relative variance of that value from its windows
    offset: float  # mean log(copy / identical copy) over the block pairs
    offset_var: float  # the variance of that mean from the pairs' spread
    # How many windows and block pairs those variances are of (0: not known), so that a
    # measurement can be sized from them (baseline/measurement_size.py).
    windows: int = 0
    pairs: int = 0

    @property
    def window_var(self) -> float:
        """The relative variance of one window (0 when the window count is not known)."""
        return self.value_var * self.windows

    @property
    def pair_var(self) -> float:
        """The variance of one block pair's log ratio (0 when the pair count is not known)."""
        return self.offset_var * self.pairs

    def to_dict(self) -> dict[str, float]:
        # In percent: files round to 4 decimals, which would erase a variance of 1e-5.
        return {
            "value": self.value,
            "value_sd_pct": math.sqrt(self.value_var) * 100.0,
            "offset_pct": self.offset * 100.0,
            "offset_sd_pct": math.sqrt(self.offset_var) * 100.0,
            "windows": self.windows,
            "pairs": self.pairs,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RowSample:
        return cls(
            float(data["value"]),
            (float(data["value_sd_pct"]) / 100.0) ** 2,
            float(data["offset_pct"]) / 100.0,
            (float(data["offset_sd_pct"]) / 100.0) ** 2,
            int(data.get("windows") or 0),
            int(data.get("pairs") or 0),
        )


@dataclass(frozen=True)
class CalibrationSession:
    recorded_at: str
    rows: Mapping[str, RowSample]  # "c4 p50" -> sample

    def to_dict(self) -> dict[str, Any]:
        return {
            "recorded_at": self.recorded_at,
            "rows": {k: v.to_dict() for k, v in sorted(self.rows.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalibrationSession:
        rows = {str(k): RowSample.from_dict(v) for k, v in (data.get("rows") or {}).items()}
        return cls(str(data["recorded_at"]), rows)


@dataclass(frozen=True)
class RunnerNoise:
    """The noise a comparison uses per row, measured where there is enough calibration."""

    sessions: int
    run: Mapping[str, float] = field(default_factory=dict)  # row -> run noise
    paired: Mapping[str, float] = field(default_factory=dict)  # row -> paired noise


def session_from(current: Measurement, paired: Paired) -> CalibrationSession:
    """One A/A session: the measured copy's steps and its pairs with the identical copy."""
    rows: dict[str, RowSample] = {}
    for step in current.steps:
        pairs = paired.pairs.get(step.load_point)
        if step.probe or not pairs:
            continue
        for name, metric in METRICS.items():
            if not metric.per_step:
                continue
            value = metric_value(step, name)
            logs = [
                math.log(r) for r in block_pair_ratios(pairs, name) if math.isfinite(r) and r > 0
            ]
            if not (value > 0 and math.isfinite(value)) or len(logs) < 2:
                continue
            offset, spread = mean_var(logs)
            windows = [metric_value(w, name) for w in step.measured]
            rows[f"{step.load_point} {name}"] = RowSample(
                value,
                relative_variance(windows) / len(windows) if windows else 0.0,
                offset,
                spread / len(logs),
                len(windows),
                len(logs),
            )
    return CalibrationSession(utc_now(), rows)


def _blend(prior: float, observed_var: float, sessions: int) -> float:
    """The measured variance blended with the option's value as a prior (module docstring),
    as a relative SD."""
    return math.sqrt(max(blended_variance(prior * prior, observed_var, sessions), 0.0))


def runner_noise(
    sessions: Sequence[CalibrationSession], run_noise: float, paired_noise: float
) -> RunnerNoise:
    """Per row, the run noise and paired noise these sessions measured (none before
    MIN_SESSIONS sessions saw the row)."""
    run: dict[str, float] = {}
    paired: dict[str, float] = {}
    names = sorted({name for s in sessions for name in s.rows})
    for name in names:
        samples = [s.rows[name] for s in sessions if name in s.rows]
        k = len(samples)
        if k < MIN_SESSIONS:
            continue
        between = mean_var([math.log(s.value) for s in samples])[1]
        within = math.fsum(s.value_var for s in samples) / k
        run[name] = _blend(run_noise, max(0.0, between - within), k)
        # Identical copies: their offset is zero on average, so its second moment is its
        # variance, which is the pairs' part plus each copy's own (twice the per-side one).
        moment = math.fsum(s.offset * s.offset - s.offset_var for s in samples) / k
        paired[name] = _blend(paired_noise, max(0.0, moment / 2.0), k)
    return RunnerNoise(len(sessions), run, paired)


@dataclass(frozen=True)
class CalibrationFile:
    test_id: str
    environments: Mapping[str, tuple[Fingerprint, tuple[CalibrationSession, ...]]]

    def sessions_for(self, fingerprint: Fingerprint) -> tuple[CalibrationSession, ...] | None:
        """The sessions of exactly this environment; None when it has none."""
        entry = self.environments.get(fingerprint.env_id)
        return None if entry is None else entry[1]

    def to_text(self) -> str:
        return dumps(
            {
                "schema": SCHEMA,
                "schema_version": SCHEMA_VERSION,
                "test": self.test_id,
                "environments": {
                    env_id: {
                        "fingerprint": fp.to_dict(),
                        "sessions": [s.to_dict() for s in sessions],
                    }
                    for env_id, (fp, sessions) in sorted(self.environments.items())
                },
            }
        )


class CalibrationStore:
    """The calibration directory of a session."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, test_id: str, name: str | None = None) -> Path:
        return self.root.joinpath(*relative_path(test_id, name).parts)

    def read(self, test_id: str, name: str | None = None) -> CalibrationFile | None:
        """The test's calibration; None when it has none. BaselineError, naming the file and
        leaving it as it is, when it cannot be used."""
        path = self.path_for(test_id, name)
        text = read_file(path, _KIND)
        return None if text is None else _parse(text, path)

    def add_session(
        self,
        test_id: str,
        fingerprint: Fingerprint,
        session: CalibrationSession,
        name: str | None = None,
    ) -> tuple[Path, int]:
        """Append a session for this environment (keeping every other one): the file and how
        many sessions this environment now has."""
        existing = self.read(test_id, name)
        environments = dict(existing.environments) if existing is not None else {}
        earlier = environments.get(fingerprint.env_id, (fingerprint, ()))[1]
        kept = (*earlier, session)[-MAX_SESSIONS:]
        environments[fingerprint.env_id] = (fingerprint, kept)
        path = self.path_for(test_id, name)
        text = CalibrationFile(test_id, environments).to_text()
        atomic_write_text(path, text, what="calibration")
        return path, len(kept)


_KIND = FileKind(
    "calibration",
    SCHEMA,
    SCHEMA_VERSION,
    "restore it from version control, or delete it and calibrate again (--triton-calibrate)",
    "--triton-calibration-dir",
)


def _parse(text: str, path: Path) -> CalibrationFile:
    data = read_envelope(text, path, _KIND)
    try:
        environments = {
            str(env_id): (
                Fingerprint.from_dict(entry["fingerprint"]),
                tuple(CalibrationSession.from_dict(s) for s in entry["sessions"]),
            )
            for env_id, entry in (data.get("environments") or {}).items()
        }
        return CalibrationFile(str(data["test"]), environments)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BaselineError(
            f"calibration {path} is corrupt: missing or malformed field ({exc!r}). It was left "
            "untouched: restore it from version control or delete it and calibrate again"
        ) from exc
