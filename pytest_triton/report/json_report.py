"""Machine-readable report: every judged measurement with its specs, steps and windows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_triton.baseline.codec import dumps, load_spec_dict, measurement_to_dict, plain, slo_dict
from pytest_triton.outcome import JudgedResult
from pytest_triton.server.base import ServerIdentity

SCHEMA = "pytest-triton-report/1"


def report_data(results: Sequence[JudgedResult], server: ServerIdentity | None) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "server": plain(server) if server else None,
        "results": [_result(r) for r in results],
    }


def render_json(results: Sequence[JudgedResult], server: ServerIdentity | None) -> str:
    return dumps(report_data(results, server))


def _result(judged: JudgedResult) -> dict[str, Any]:
    recorded = judged.recorded
    return {
        "test": judged.nodeid,
        "passed": judged.passed,
        "failures": list(judged.failures),
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
