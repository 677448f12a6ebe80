"""What a search maximises: weighted objectives within the test's SLO, as Model Analyzer's
objectives and constraints.

A measured config is a ramp of steps. A step is eligible when it meets the SLO's per-step
bounds (latency percentiles, error rate, GPU memory); a config is eligible when some step is and
it meets the config-wide ones (min_throughput, min_capacity). Its objective value is the best
score over its eligible steps, so with a latency bound a throughput objective is Model
Analyzer's online mode (the most throughput within the latency budget) and without one its
offline mode (the most throughput).

A step's score weighs each objective against the best value any measured config reached on it
(throughput: value / best; latency and memory: best / value) and divides by the total weight:
1.0 is best on every objective, and with one objective the order is that metric's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pytest_triton.judge.slo import within_latency
from pytest_triton.result import Measurement, StepResult
from pytest_triton.search.space import SearchSpaceError
from pytest_triton.spec import SLO

# Objective -> True when higher is better.
HIGHER_IS_BETTER = MappingProxyType(
    {
        "throughput": True,
        "p50": False,
        "p90": False,
        "p95": False,
        "p99": False,
        "avg": False,
        "gpu_memory": False,
    }
)
# Model Analyzer's names for them.
MODEL_ANALYZER_NAMES = MappingProxyType(
    {
        "perf_throughput": "throughput",
        "perf_latency_p50": "p50",
        "perf_latency_p90": "p90",
        "perf_latency_p95": "p95",
        "perf_latency_p99": "p99",
        "perf_latency_avg": "avg",
        "gpu_used_memory": "gpu_memory",
    }
)
GPU_MEMORY_METRIC = "gpu_memory_used_mb"  # Triton's metrics endpoint
NVML_MEMORY_METRIC = "nvml_gpu_memory_used_mb"  # NVML, where Triton's build reports none


@dataclass(frozen=True)
class Objectives:
    weights: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({"throughput": 1.0})
    )

    def needs_gpu(self) -> bool:
        return "gpu_memory" in self.weights

    def describe(self) -> str:
        if len(self.weights) == 1:
            return next(iter(self.weights))
        return ", ".join(f"{n} x{w:g}" for n, w in self.weights.items())


def parse_objectives(spec: Any, where: str = "objectives") -> Objectives:
    """A list of names (equal weights) or a mapping name -> weight, in our names (throughput,
    p99, gpu_memory, ...) or Model Analyzer's (perf_throughput, perf_latency_p99, ...)."""
    if isinstance(spec, str):
        spec = [s.strip() for s in spec.split(",") if s.strip()]
    if isinstance(spec, Mapping):
        pairs = list(spec.items())
    elif isinstance(spec, (list, tuple)):
        pairs = [(name, 1) for name in spec]
    else:
        raise SearchSpaceError(
            f"{where}: expected a list of objectives or a mapping objective -> weight, got {spec!r}"
        )
    if not pairs:
        raise SearchSpaceError(f"{where}: no objective given")
    weights: dict[str, float] = {}
    for name, weight in pairs:
        key = MODEL_ANALYZER_NAMES.get(str(name), str(name))
        if key not in HIGHER_IS_BETTER:
            known = ", ".join([*HIGHER_IS_BETTER, *MODEL_ANALYZER_NAMES])
            raise SearchSpaceError(f"{where}: unknown objective {name!r}; known: {known}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
            raise SearchSpaceError(f"{where}: weight of {name} must be a positive number")
        weights[key] = float(weight)
    return Objectives(MappingProxyType(weights))


def objective_value(step: StepResult, name: str) -> float | None:
    """A step's value of one objective (None: not measured, e.g. GPU memory without a GPU)."""
    if name == "gpu_memory":
        return step.metrics.get(GPU_MEMORY_METRIC, step.metrics.get(NVML_MEMORY_METRIC))
    if name == "throughput":
        return step.throughput
    return float(getattr(step, f"{name}_ms"))


def step_breaks(step: StepResult, slo: SLO | None) -> str:
    """The first per-step SLO bound a step breaks, in words; '' when it meets them all."""
    if slo is None:
        return ""
    if not within_latency(step, slo):
        for stat, bound in slo.latency_bounds().items():
            value = step.latency(stat)
            if not value <= bound:
                return f"{stat} {value:.2f} ms > {bound:g} ms at {step.load_point}"
        bound = slo.max_error_rate or 0.0
        return f"error rate {step.error_rate:.1%} > {bound:.1%} at {step.load_point}"
    memory = step.metrics.get(GPU_MEMORY_METRIC)
    if slo.max_gpu_memory_mb is not None and memory is not None and memory > slo.max_gpu_memory_mb:
        return f"GPU memory {memory:.0f} MB > {slo.max_gpu_memory_mb:g} MB at {step.load_point}"
    return ""


@dataclass(frozen=True)
class Scored:
    """One config's standing: its score over its best eligible step, or why it has none."""

    score: float  # 0..1; 0 when ineligible or not measured
    step: StepResult | None  # the step the score is of (eligible or not: the closest one)
    broken: str = ""  # the bound that made it ineligible, '' when eligible

    @property
    def eligible(self) -> bool:
        return not self.broken and self.step is not None


def score_all(
    measurements: Sequence[Measurement | None], slo: SLO | None, objectives: Objectives
) -> list[Scored]:
    """Each measured config's standing against the others (None: not measured)."""
    eligible_steps: list[list[StepResult]] = []
    broken: list[str] = []
    for m in measurements:
        steps = [s for s in m.steps if not s.probe] if m is not None else []
        good = [s for s in steps if not step_breaks(s, slo)]
        eligible_steps.append(good)
        broken.append(_config_breaks(m, steps, good, slo) if m is not None else "not measured")
    best = _best_values([s for steps in eligible_steps for s in steps], objectives)
    out: list[Scored] = []
    for m, good, why in zip(measurements, eligible_steps, broken, strict=True):
        if m is None:
            out.append(Scored(0.0, None, why))
        elif why:
            steps = [s for s in m.steps if not s.probe]
            out.append(Scored(0.0, min(steps, key=_load, default=None), why))
        else:
            top = max(good, key=lambda s: _score(s, best, objectives))
            out.append(Scored(_score(top, best, objectives), top))
    return out


def _config_breaks(
    m: Measurement, steps: Sequence[StepResult], good: Sequence[StepResult], slo: SLO | None
) -> str:
    if not steps:
        return "no step measured"
    if not good:
        return step_breaks(min(steps, key=_load), slo)
    if slo is not None and slo.min_throughput is not None:
        top = max(s.throughput for s in good)
        if top < slo.min_throughput:
            return f"throughput {top:.0f}/s < min {slo.min_throughput:g}/s within the bounds"
    if slo is not None and slo.min_capacity is not None:
        capacity = m.capacity
        if capacity is None or capacity < slo.min_capacity:
            shown = "none" if capacity is None else f"{capacity:.0f}/s"
            return f"capacity {shown} < min {slo.min_capacity:g}/s"
    return ""


def _load(step: StepResult) -> float:
    return float(step.concurrency if step.concurrency is not None else step.request_rate or 0)


def _best_values(steps: Sequence[StepResult], objectives: Objectives) -> dict[str, float]:
    best: dict[str, float] = {}
    for name in objectives.weights:
        values = [v for s in steps if (v := objective_value(s, name)) is not None and v > 0]
        if values:
            best[name] = max(values) if HIGHER_IS_BETTER[name] else min(values)
    return best


def _score(step: StepResult, best: Mapping[str, float], objectives: Objectives) -> float:
    total = math.fsum(objectives.weights.values())
    score = 0.0
    for name, weight in objectives.weights.items():
        value = objective_value(step, name)
        if value is None or value <= 0 or name not in best:
            continue  # not measured: counts as nothing, for every config alike
        ratio = value / best[name] if HIGHER_IS_BETTER[name] else best[name] / value
        score += weight * ratio
    return score / total
