"""Machine-readable report: each Triton test's outcome as pytest decided it, and every
measurement with its specs, steps and windows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_triton.baseline.codec import dumps, load_spec_dict, measurement_to_dict, plain, slo_dict
from pytest_triton.outcome import OUTCOMES, JudgedResult, TestEntry
from pytest_triton.server.base import ServerIdentity

SCHEMA = "pytest-triton-report/2"


def report_data(entries: Sequence[TestEntry], server: ServerIdentity | None) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
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


def _result(entry: TestEntry, judged: JudgedResult) -> dict[str, Any]:
    recorded = judged.recorded
    return {
        "test": judged.nodeid,
        "outcome": entry.outcome,  # the test's, as pytest decided it
        "passed": entry.outcome == "passed",
        "failures": list(judged.failures),
        "failed_checks": list(judged.kinds),
        "notes": list(judged.notes),
        "model": {
            "name": recorded.model.name,
            "version": recorded.model.version,
            "config_override": plain(recorded.model.config),
        },
        "load": load_spec_dict(recorded.load),
        "slo": slo_dict(recorded.slo) if recorded.slo else None,
        "slo_check": [plain(row) for row in judged.slo.rows] if judged.slo else None,
        "measurement": measurement_to_dict(recorded.measurement),
    }
