"""Machine-readable report: each Triton test's outcome as pytest decided it, and every
measurement with its specs, steps and windows."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from typing import Any

from pytest_triton.baseline.codec import dumps, load_spec_dict, measurement_to_dict, plain, slo_dict
from pytest_triton.baseline.fingerprint import collect
from pytest_triton.record import MeasurementRecord
from pytest_triton.report.outcome import OUTCOMES, TestEntry
from pytest_triton.report.provenance import commit_info
from pytest_triton.server.base import ServerIdentity

SCHEMA = "pytest-triton-report/2"


def report_data(entries: Sequence[TestEntry], server: ServerIdentity | None) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit_info() or None,  # None outside a git checkout
        # the environment fingerprint baselines are keyed by
        "machine": collect(server).to_dict(),
        "server": plain(server) if server else None,
        "summary": {o: sum(e.outcome == o for e in entries) for o in OUTCOMES},
        "tests": [
            {"test": e.nodeid, "outcome": e.outcome, "why": e.why, "reason": e.reason}
            for e in entries
        ],
        "results": [_result(e, r) for e in entries for r in e.results],
    }


def render_json(entries: Sequence[TestEntry], server: ServerIdentity | None) -> str:
    return dumps(report_data(entries, server))


def _result(entry: TestEntry, record: MeasurementRecord) -> dict[str, Any]:
    return {
        "test": record.test_id,
        "outcome": entry.outcome,  # the test's, as pytest decided it
        "passed": entry.outcome == "passed",
        "failures": list(record.failures),
        "failed_checks": list(record.kinds),
        "notes": list(record.notes),
        "model": {
            "name": record.model.name,
            "version": record.model.version,
            "config_override": plain(record.model.config),
        },
        "load": load_spec_dict(record.load),
        "slo": slo_dict(record.slo) if record.slo else None,
        "slo_check": [plain(row) for row in record.slo_check.rows] if record.slo_check else None,
        "measurement": measurement_to_dict(record.measurement),
        "search": _search(record),
    }


def _search(record: MeasurementRecord) -> dict[str, Any] | None:
    """The ranked table of a triton.search() (the measurement above is its winner's)."""
    result = record.search
    if result is None:
        return None
    from pytest_triton.search.table import rows

    gain = result.gain()
    return {
        "mode": result.mode,
        "objectives": dict(result.objectives.weights),
        "duration_s": result.duration_s,
        "max_gap_to_best": result.max_gap_to_best,
        "gain_over_committed": None if gain is None or math.isinf(gain) else gain,
        "configs": [plain(row) for row in rows(result)],
    }
