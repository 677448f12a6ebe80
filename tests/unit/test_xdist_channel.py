"""What a pytest-xdist worker sends its controller survives the trip: records whose specs hold
read-only mappings come back equal."""

from __future__ import annotations

import pickle

from baseline_factories import measurement_from_latencies

from pytest_triton.plugin.xdist_channel import dumps
from pytest_triton.record import MeasurementRecord
from pytest_triton.spec import SLO, LoadSpec, ModelSpec, frozen_mapping


def test_records_with_read_only_mappings_travel_whole() -> None:
    record = MeasurementRecord(
        "t.py::test_a",
        "tiny",
        measurement_from_latencies([5.0, 5.1, 4.9]),
        ModelSpec("tiny", config=frozen_mapping({"max_batch_size": 8})),
        LoadSpec(shapes=frozen_mapping({"INPUT0": (16,)})),
        SLO(p99_ms=10),
    )
    back = pickle.loads(dumps({"results": [record]}))["results"][0]
    assert back.model == record.model and back.load == record.load
    assert back.measurement == record.measurement
    assert dict(back.load.shapes) == {"INPUT0": (16,)}
