"""Frozen specifications: what options and markers turn into before any work is done.

Data flows option/marker -> spec -> server / model load / measurement. Specs are plain, hashable
values so they can be compared, stored in baselines and used as cache keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypedDict

ServerMode = Literal["local", "docker", "remote"]
WireProtocol = Literal["grpc", "http"]


def frozen_mapping(values: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """A read-only copy, so a spec cannot be changed behind the back of whoever holds it."""
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True)
class ServerSpec:
    """How to get a Triton server for the session."""

    mode: ServerMode
    model_repository: Path | None = None
    # local mode: None means "the tritonserver shipped in the nvidia-pytriton wheel".
    server_path: Path | None = None
    # docker mode
    image: str | None = None
    gpus: str = "none"  # "all", "none" or comma separated ids
    shm_size: str = "256m"
    mounts: tuple[str, ...] = ()  # "host:container[:ro|rw]"
    env: Mapping[str, str] = field(default_factory=frozen_mapping)
    # remote mode: "host:port" of the gRPC and HTTP endpoints
    url: str | None = None
    http_url: str | None = None
    # passed through to tritonserver as --key=value (Model Analyzer's triton_server_flags)
    flags: Mapping[str, str] = field(default_factory=frozen_mapping)
    startup_timeout_s: float = 120.0
    log_dir: Path | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A model to load (explicit model control) with an optional config override."""

    name: str
    version: str | None = None
    config: Mapping[str, Any] = field(default_factory=frozen_mapping)
    load_timeout_s: float = 120.0

    def load_key(self) -> str:
        """What makes two loads of this model the same: the version and the config override
        (Triton serves one config per model name, so another override means a reload)."""
        return json.dumps({"v": self.version, "c": dict(self.config)}, sort_keys=True, default=str)


STREAM_LATENCIES = tuple(f"{k}_{p}" for k in ("ttft", "itl") for p in ("p50", "p90", "p95", "p99"))


@dataclass(frozen=True)
class SLO:
    """Service level objectives a measurement is judged against. None means "not gated"."""

    p50_ms: float | None = None
    p90_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    avg_ms: float | None = None
    min_throughput: float | None = None  # inferences per second
    max_error_rate: float | None = None  # 0..1
    min_capacity: float | None = None  # infer/s at which the latency bounds still hold
    max_gpu_memory_mb: float | None = None
    # Decoupled (streaming) models: time to first token and inter-token latency percentiles,
    # and output tokens (responses) per second.
    ttft_p50_ms: float | None = None
    ttft_p90_ms: float | None = None
    ttft_p95_ms: float | None = None
    ttft_p99_ms: float | None = None
    itl_p50_ms: float | None = None
    itl_p90_ms: float | None = None
    itl_p95_ms: float | None = None
    itl_p99_ms: float | None = None
    min_output_tokens_per_s: float | None = None

    def latency_bounds(self) -> dict[str, float]:
        """The latency bounds that are set, keyed by statistic name (p50, ..., avg, and for
        streams ttft_p50, ..., itl_p99): each must hold at every step."""
        names = ("p50", "p90", "p95", "p99", "avg", *STREAM_LATENCIES)
        bounds = {n: getattr(self, f"{n}_ms") for n in names}
        return {n: float(v) for n, v in bounds.items() if v is not None}

    def stream_bounds(self) -> list[str]:
        """The bounds only a decoupled (streaming) model has figures for."""
        names = [f"{n}_ms" for n in STREAM_LATENCIES] + ["min_output_tokens_per_s"]
        return [n for n in names if getattr(self, n) is not None]

    def is_empty(self) -> bool:
        return all(getattr(self, f) is None for f in self.__dataclass_fields__)


@dataclass(frozen=True)
class LoadSpec:
    """How to load the model while measuring.

    `concurrency` lists the closed-loop load points (outstanding requests); `auto` ramps double
    concurrency from 1 to `max_concurrency` until throughput plateaus or an SLO bound breaks.
    """

    concurrency: tuple[int, ...] = (1,)
    auto: bool = False
    max_concurrency: int = 128
    request_rate: tuple[float, ...] = ()  # open-loop load points (infer/s); excludes concurrency
    rate_distribution: Literal["constant", "poisson"] = "constant"
    protocol: WireProtocol = "grpc"
    # Each request a gRPC ModelStreamInfer call whose responses are timed (tokens: TTFT, ITL).
    # None: when the model is decoupled, which is the only kind that may be streamed.
    streaming: bool | None = None
    # Sequence-batched models: requests per sequence (perf_analyzer's --sequence-length), each
    # sequence's drawn within this percentage of it (--sequence-length-variation).
    sequence_length: int = 20
    sequence_length_variation: float = 0.0
    # "system": tensors pass through registered POSIX shared memory (load/shared_memory.py).
    shared_memory: Literal["none", "system"] = "none"
    batch_size: int = 1
    warmup_s: float = 1.0
    window_s: float = 2.0
    window_requests: int | None = None  # count-based windows when set
    stability_pct: float = 10.0
    # Windows a step's figures and its baseline intervals are computed over: stability is still
    # judged on the last 3, then the step goes on until it has this many. More windows give a
    # regression verdict narrower intervals, and fewer of them were picked for agreeing.
    measured_windows: int = 3
    max_trials: int = 10
    # Paired with the baseline build (load/paired.py): block pairs per step, in whole rounds of
    # its 4-pair order. More pairs narrow the interval the pairs' spread gives.
    block_pairs: int = 4
    plateau_steps: int = 4
    plateau_gain_pct: float = 5.0
    # user shapes for dynamic (-1) dims, per input name
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=frozen_mapping)
    seed: int = 0
    driver: Literal["native", "perf_analyzer"] = "native"
    # Stability is judged on throughput and this latency statistic (avg, p50, p90, p95, p99);
    # None: the tail the SLO bounds, else avg (perf_analyzer's default).
    stability_latency: str | None = None
    # A step that does not stabilise within max_trials windows is retried with windows twice as
    # long, at most this many times, then reported unstable.
    max_window_retries: int = 2
    # However it is going, a step ends after this long and, unless stable by then, is reported
    # unstable: on a busy machine window growth alone took a step 2.5 minutes.
    max_step_s: float = 120.0
    # Load-generator processes for the native driver; 0: one, more when it is the bottleneck.
    processes: int = 0
    # "random" (seeded), "zero", or a path: perf_analyzer-style .json, or .npz/.npy arrays.
    input_data: str = "random"
    # Text models (load/prompts.py): "synthetic:MEAN,SD" words or a prompt file, sent in the
    # model's text input; and the output length asked for, in its max_tokens-like input.
    prompts: str | None = None
    output_tokens: int | None = None
    # Binary-search the highest throughput whose SLO latency bounds hold (also done whenever the
    # SLO sets min_capacity).
    find_capacity: bool = False
    # Open-loop mode: requests in flight beyond this wait (and their lateness is measured).
    max_outstanding: int = 1024
    # No response for this long while requests are in flight: the server is stuck.
    request_timeout_s: float = 30.0
    # perf_analyzer binary; None: $PERF_ANALYZER, then PATH, then .tools/ (provision script).
    perf_analyzer_path: str | None = None


class LoadSettings(TypedDict, total=False):
    """LoadSpec's fields as `triton.measure()` and @triton_load take them (a misspelt or
    ill-typed one is a type error); build_load_spec turns them into a LoadSpec."""

    concurrency: Sequence[int] | int | str | Mapping[str, int]
    auto: bool
    max_concurrency: int
    request_rate: Sequence[float] | float | str
    rate_distribution: Literal["constant", "poisson"]
    protocol: WireProtocol
    streaming: bool | None
    sequence_length: int
    sequence_length_variation: float
    shared_memory: Literal["none", "system"]
    batch_size: int
    warmup_s: float
    window_s: float
    window_requests: int | None
    stability_pct: float
    measured_windows: int
    max_trials: int
    block_pairs: int
    plateau_steps: int
    plateau_gain_pct: float
    shapes: Mapping[str, Sequence[int]]
    seed: int
    driver: Literal["native", "perf_analyzer"]
    stability_latency: str | None
    max_window_retries: int
    max_step_s: float
    processes: int
    input_data: str
    prompts: str | None
    output_tokens: int | None
    find_capacity: bool
    max_outstanding: int
    request_timeout_s: float
    perf_analyzer_path: str | None
