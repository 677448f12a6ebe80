"""The triton markers' names and `pytest --markers` docs.

Kept apart from their validation (markers.py), which needs the core's spec classes: pytest
loads this at start-up for every suite, triton tests or not.
"""

from __future__ import annotations

import pytest

MARKERS: dict[str, str] = {
    "triton_model": (
        "triton_model(name, version=None, config=None, load_timeout=None): load this model "
        "(explicit model control) before the test; `config` overrides top-level fields of its "
        "config.pbtxt, e.g. {'instance_group': [{'count': 2, 'kind': 'KIND_CPU'}]}"
    ),
    "triton_slo": (
        "triton_slo(p50_ms, p90_ms, p95_ms, p99_ms, avg_ms, min_throughput, max_error_rate, "
        "min_capacity, max_gpu_memory_mb, ttft_p50_ms..ttft_p99_ms, itl_p50_ms..itl_p99_ms, "
        "min_output_tokens_per_s): bounds the test's measurement must meet"
    ),
    "triton_search": (
        "triton_search(space=None, parameters=None, mode='brute', objectives=None, "
        "max_gap_to_best=None, min/max_instance_count, min/max_model_batch_size, "
        "instance_kind): what triton.search() searches: a space over config fields in Model "
        "Analyzer's model_config_parameters syntax (None: its automatic space), brute or quick, "
        "ranked by objectives within the test's triton_slo"
    ),
    "triton_load": (
        "triton_load(concurrency, window_s, warmup_s, protocol, batch_size, ...): how "
        "triton.measure() loads the model; any LoadSpec field"
    ),
}


def register_markers(config: pytest.Config) -> None:
    for text in MARKERS.values():
        config.addinivalue_line("markers", text)
