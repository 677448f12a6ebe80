"""The space searched when a test gives none: Model Analyzer's automatic brute search.

Instance counts from 1 to 5 and, for a model that can batch, max_batch_size over the powers of
two from 1 to 128 with dynamic batching on (Model Analyzer enables it "if it is legal to do
so": only a model with a batch dimension may batch). Each bound has an option, as Model
Analyzer's run_config_search_{min,max}_{instance_count,model_batch_size}. The model's own
config is measured besides, by the search, as the reference a gap is measured from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_triton.search.space import SearchSpaceError


@dataclass(frozen=True)
class AutoBounds:
    min_instances: int = 1
    max_instances: int = 5
    min_batch: int = 1
    max_batch: int = 128

    def __post_init__(self) -> None:
        for name, low, high in (
            ("instance_count", self.min_instances, self.max_instances),
            ("model_batch_size", self.min_batch, self.max_batch),
        ):
            if low < 1:
                raise SearchSpaceError(f"run_config_search_min_{name} {low} must be >= 1")
            if high < low:
                raise SearchSpaceError(
                    f"run_config_search_max_{name} {high} is below its minimum {low}"
                )


def automatic_space(
    base: Mapping[str, Any], bounds: AutoBounds, kind: str = "KIND_CPU"
) -> list[dict[str, Any]]:
    """The config overrides of the automatic space for a model whose own config is `base`;
    `kind` is the instance kind (KIND_GPU where there is a GPU, else KIND_CPU)."""
    counts = range(bounds.min_instances, bounds.max_instances + 1)
    if int(base.get("max_batch_size") or 0) == 0:
        return [{"instance_group": [{"kind": kind, "count": n}]} for n in counts]
    batches = [b for b in _powers_of_two(bounds.max_batch) if b >= bounds.min_batch]
    if not batches:  # no power of two in [min, max]: the bounds themselves
        batches = [bounds.min_batch]
    return [
        {
            "max_batch_size": batch,
            "dynamic_batching": dict(base.get("dynamic_batching") or {}),
            "instance_group": [{"kind": kind, "count": n}],
        }
        for batch in batches
        for n in counts
    ]


def _powers_of_two(limit: int) -> list[int]:
    out, p = [], 1
    while p <= limit:
        out.append(p)
        p *= 2
    return out
