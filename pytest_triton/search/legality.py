"""Which candidate configs cannot be served as asked, and why: skipped, never crashing a search.

Model Analyzer only checks a sweep's syntax and leaves the rest to the user; a search over a
space written for one model and applied to another (or the automatic space) meets
combinations Triton refuses or that would measure something else than asked. Each rule below
is one such combination; the reason is shown in the search's table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def skip_reason(
    config: Mapping[str, Any], base: Mapping[str, Any], batch_size: int = 1
) -> str | None:
    """Why the effective `config` (the model's own `base` with a candidate's overrides) cannot
    be measured at `batch_size`, or None when it can."""
    own_batch = int(base.get("max_batch_size") or 0)
    batch = int(config.get("max_batch_size") or 0)
    if own_batch == 0 and batch > 0:
        return (
            f"max_batch_size {batch} on a model that cannot batch (its own config has "
            "max_batch_size 0: its inputs have no batch dimension)"
        )
    if "dynamic_batching" in config and batch == 0:
        return "dynamic_batching needs max_batch_size > 0 (the model does not batch)"
    if "dynamic_batching" in config and "sequence_batching" in config:
        return "dynamic_batching and sequence_batching exclude each other (one scheduler a model)"
    if batch_size > max(batch, 1):
        return f"batch size {batch_size} is above max_batch_size {batch}"
    preferred = (config.get("dynamic_batching") or {}).get("preferred_batch_size") or []
    too_big = [p for p in preferred if int(p) > batch]
    if too_big:
        return f"preferred_batch_size {too_big[0]} is above max_batch_size {batch}"
    for group in config.get("instance_group") or []:
        count = group.get("count", 1)
        if int(count) < 1:
            return f"instance_group count {count}: a group needs at least one instance"
    return None
