"""A baseline's earlier sessions: what `update` keeps while nothing measured changed, and the
values a comparison averages over.

One session's measurement carries that session's offset (where the server and its stubs landed,
the host's other tenants) into every later comparison: on the shared 2-core development VM an
unchanged build's sessions differed by 3-5 %, so a baseline recorded in a lucky session made
every later run look slower. Averaging K sessions shrinks that offset by √K, and from 3 sessions
on their spread updates the assumed run-to-run noise (pytest_triton.judge.change).

A session is kept as a summary (each step's metric values), not its windows: the latest
session's windows bound the within-run spread, and the file stays small and reviewable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pytest_triton.baseline import codec
from pytest_triton.result import Measurement, metric_value

if TYPE_CHECKING:
    from pytest_triton.baseline.model_identity import Subject
    from pytest_triton.baseline.store import BaselineRecord
    from pytest_triton.judge.verdict import Verdict

# Session summaries hold these per step; the keys are the verdict's metric names.
STEP_METRICS = ("throughput", "avg", "p50", "p90", "p95", "p99")
DEFAULT_KEEP = 5


def summary(measurement: Measurement, recorded_at: str) -> dict[str, Any]:
    """What a later comparison needs of a session: each judged step's metric values (read
    back by pytest_triton.judge.verdict)."""
    steps = {
        s.load_point: {metric: metric_value(s, metric) for metric in STEP_METRICS}
        for s in measurement.steps
        if not s.probe
    }
    out: dict[str, Any] = {"recorded_at": recorded_at, "steps": steps}
    if measurement.capacity is not None:
        out["capacity"] = measurement.capacity
    return out


# Load fields that set how long a step is measured, not what: sessions measured at another
# length still estimate the same values (--triton-size-measurement changes them as the
# calibration grows).
LENGTH_FIELDS = ("measured_windows", "max_trials", "block_pairs")


def _same_measurement(previous: Subject, current: Subject) -> bool:
    """The same model, files, config and load, whatever the length of its steps."""

    def what(subject: Subject) -> Any:
        load = codec.load_with_defaults(subject.load)
        for name in LENGTH_FIELDS:
            load.pop(name, None)
        return codec.plain({**subject.to_dict(), "load": load})

    return bool(what(previous) == what(current))


def kept_sessions(
    previous: BaselineRecord | None,
    subject: Subject,
    slo: Mapping[str, Any],
    verdict: Verdict | None,
    keep: int,
) -> tuple[tuple[Mapping[str, Any], ...], str]:
    """The earlier sessions a new record keeps, and a note on it for the update message.

    Only sessions of the same thing measured the same way average: a change of model files,
    config, load or SLO starts over, and so does a session that moved beyond tolerance against
    them (the user is updating to accept a new level, not adding a sample of the old one)."""
    if previous is None or keep <= 1:
        return (), ""
    same_slo = codec.plain(dict(previous.slo)) == codec.plain(dict(slo))
    if not same_slo or not _same_measurement(previous.subject, subject):
        return (), "earlier sessions dropped: what was measured changed"
    if verdict is not None and (verdict.regressions or verdict.improvements):
        # Not averaged in even when nothing measured changed: `update` is the user accepting
        # what was just measured, and the next compare of the same build must pass. Averaging
        # a moved session would leave the baseline half-way and fail it.
        rows = (*verdict.regressions, *verdict.improvements)
        moved = ", ".join(f"{r.name} {r.change.pct:+.1f}%" for r in rows if r.change)
        return (), (
            f"earlier sessions dropped: this session moved beyond tolerance ({moved}); if the "
            "model did not change, this machine's run-to-run noise is larger than the "
            "tolerance (see docs/baselines.md, 'Sessions')"
        )
    sessions = (*previous.sessions, summary(previous.measurement, previous.recorded_at))
    sessions = sessions[-(keep - 1) :]
    return sessions, f"the baseline is now the mean of {len(sessions) + 1} sessions"
