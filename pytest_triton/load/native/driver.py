"""The native load driver: our own load loops (worker.py) in child processes (pool.py), their
windows judged here into a step.

It beats perf_analyzer on the same server (benchmarks/native_vs_perf_analyzer.py): requests
are pre-built once, and each loop is one thread on non-blocking sockets with our own HTTP/2
(h2grpc.py) and HTTP/1.1 (http1.py) framing.
"""

from __future__ import annotations

import math
import os
import select
import time
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from pytest_triton.errors import MeasurementError, ServerDiedError
from pytest_triton.load.stats import is_stable, stream_stats, window_sample
from pytest_triton.observe.observer import Observer, Snapshot, composing_between, split_between
from pytest_triton.result import StepResult
from pytest_triton.server.base import Endpoints
from pytest_triton.spec import LoadSpec

from .. import inputs, prompts, server_reads
from ..model_kind import sequence_length, use_streaming
from ..shared_memory import SystemSharedMemory, check_reachable
from ..step import STABLE_WINDOWS, LoadPoint, RawWindow, StepSettings, build_step
from .h2grpc import ConnectionLost, H2Connection, grpc_message
from .http1 import Http1Connection
from .pool import Pool, WorkerFailed
from .sequences import sequence_parameters
from .windows import WindowRecord
from .worker import StepCommand, WorkerConfig

# A load loop using this share of a core or more was (close to) saturated: it could not have
# sent faster, so the step measured the client as much as the server.
CLIENT_BOUND_CPU = 0.85
# Open loop: more than this share of sends late by over 1 ms means the schedule was not kept.
CLIENT_BOUND_LATE = 0.05
# How long a lost connection waits to see the server's death before it is called a failure of
# its own.
_DEATH_GRACE_S = 2.0
# Sequence ids a worker may use in one step: far more sequences than a step can start.
_SEQUENCE_IDS_PER_WORKER = 1_000_000
# Time for a step command to reach the children before its clock starts.
_START_SLACK_NS = 150_000_000


def split_hostport(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise MeasurementError(f"endpoint {address!r} is not host:port")
    return host.strip("[]"), int(port)


def build_requests(
    endpoints: Endpoints,
    model: str,
    version: str | None,
    load: LoadSpec,
    data: Any = None,
    shared: SystemSharedMemory | None = None,
) -> tuple[inputs.ModelIO, tuple[bytes, ...]]:
    """The model's I/O and the pre-built requests for the chosen protocol (with `shared`, their
    tensors in its shared memory regions)."""
    config = server_reads.model_config(endpoints.http, model, version)
    io = inputs.model_io(model, version, config)
    if data is not None:
        samples = inputs.user_samples(io, data)
    elif load.prompts is not None or load.output_tokens is not None:
        samples = prompts.text_samples(io, load)
    elif load.input_data in ("random", "zero"):
        shapes = inputs.resolve_shapes(io, load.shapes)
        samples = inputs.generated_samples(io, shapes, load.input_data, load.seed)
    else:
        samples = inputs.user_samples(io, load.input_data)
    requests = inputs.batched(io, samples, load.batch_size)
    if shared is not None:
        return io, shared.messages(io, requests)
    if load.protocol == "grpc":
        return io, inputs.grpc_messages(io, requests)
    return io, inputs.http_messages(io, requests, endpoints.http)


def send_one(
    protocol: str, address: str, message: bytes, timeout_s: float, streaming: bool = False
) -> str | None:
    """Send one request synchronously; Triton's error text, or None on success.

    Run before load starts so a payload the model rejects (wrong shape, dtype...) fails the
    measurement with Triton's own words instead of a step full of errors.
    """
    host, port = split_hostport(address)
    conn: H2Connection | Http1Connection
    try:
        if protocol == "grpc":
            conn = H2Connection(host, port, responses={} if streaming else None)
        else:
            conn = Http1Connection(host, port)
    except OSError as exc:
        raise MeasurementError(f"cannot connect to Triton at {address}: {exc}") from None
    try:
        conn.send(0, message)
        deadline = time.monotonic() + timeout_s
        done: list[tuple[int, str | None]] = []
        while not done:
            conn.flush()
            left = deadline - time.monotonic()
            if left <= 0:
                raise MeasurementError(
                    f"no answer from Triton to a first request in {timeout_s:g} s"
                )
            wait_write = [conn.sock] if conn.wants_write else []
            readable, _, _ = select.select([conn.sock], wait_write, [], min(left, 0.5))
            if readable:
                conn.on_readable(done)
        return done[0][1]
    except ConnectionLost as exc:
        raise MeasurementError(f"Triton dropped the first request: {exc}") from None
    finally:
        conn.close()


class NativeDriver:
    name = "native"

    def __init__(
        self,
        endpoints: Endpoints,
        model: str,
        version: str | None,
        load: LoadSpec,
        observer: Observer,
        is_alive: Callable[[], bool],
        data: Any = None,
    ) -> None:
        self.notes: list[str] = []
        self._model = model
        self._load = load
        self._observer = observer
        self._is_alive = is_alive
        self._shared: SystemSharedMemory | None = None
        if load.shared_memory == "system":
            check_reachable(endpoints.grpc)
            self._shared = SystemSharedMemory(endpoints.http, model)
        try:
            self._pool = self._start(endpoints, model, version, load, data)
        except BaseException:
            if self._shared is not None:
                self._shared.close()  # no region left registered or on /dev/shm
            raise

    def _start(
        self, endpoints: Endpoints, model: str, version: str | None, load: LoadSpec, data: Any
    ) -> Pool:
        """Check a first request, then the load workers' pool (not started)."""
        self.io, messages = build_requests(endpoints, model, version, load, data, self._shared)
        self.streaming = use_streaming(self.io, load)
        length = sequence_length(self.io, load)
        address = endpoints.grpc if load.protocol == "grpc" else endpoints.http
        for message in messages[:1]:
            if length:  # a sequence model takes a request only within a sequence: one of one
                message = grpc_message(message[5:] + sequence_parameters(1, True, True))
            error = send_one(
                load.protocol, address, message, load.request_timeout_s, self.streaming
            )
            if error is not None:
                raise MeasurementError(
                    f"model {model!r} rejected the generated request: {error}. Check the input "
                    "shapes (shapes=...), batch_size and input_data against the model config"
                )
        host, port = split_hostport(address)
        pool = Pool(
            WorkerConfig(
                host,
                port,
                load.protocol,
                messages,
                streaming=self.streaming,
                sequence_length=length,
                sequence_length_variation=load.sequence_length_variation,
            )
        )
        # sequence ids: each worker's own block, fresh every step (sequences.py)
        self._next_sequence_id = 2  # 1 was the first request's
        self._auto_processes = load.processes == 0
        self._processes = load.processes or 1
        # Leave half the cores to a local server: more load processes than that steal its CPU.
        self._max_processes = (
            max(1, (os.cpu_count() or 1) // 2) if self._auto_processes else self._processes
        )
        return pool

    def close(self) -> None:
        self._pool.close()
        if self._shared is not None:
            self._shared.close()

    def _check_alive(self, point: LoadPoint) -> Callable[[], None]:
        def check() -> None:
            if not self._is_alive():
                raise ServerDiedError(
                    f"Triton died while measuring {self._model!r} at {point.label}"
                )

        return check

    def run_step(self, point: LoadPoint, settings: StepSettings) -> StepResult:
        while True:
            step = self._run_step(point, settings)
            if (
                step.client_bound
                and self._auto_processes
                and not settings.probe
                and self._processes < self._max_processes
                and (point.concurrency is None or point.concurrency > self._processes)
            ):
                self._processes += 1
                self.notes.append(
                    f"{point.label}: the load generator was the limit; retried with "
                    f"{self._processes} load processes"
                )
                continue
            return step

    def _commands(
        self, point: LoadPoint, settings: StepSettings, window_s: float, n: int
    ) -> list[StepCommand | None]:
        t0 = time.monotonic_ns() + _START_SLACK_NS
        count = settings.window_requests
        window_ns = int(window_s * 1e9)
        if count is not None:
            # a count window still ends after this long, so a slow server cannot hang it
            window_ns = int(max(10 * window_s, 30.0) * 1e9)
        cmds: list[StepCommand | None] = []
        for i in range(n):
            if point.concurrency is not None:
                share: float = point.concurrency // n + (1 if i < point.concurrency % n else 0)
                mode = "concurrency"
            else:
                assert point.rate is not None
                share = point.rate / n
                mode = "rate"
            if share <= 0:
                cmds.append(None)
                continue
            cmds.append(
                StepCommand(
                    mode=mode,
                    value=share,
                    start_ns=t0,
                    warmup_ns=int(settings.warmup_s * 1e9),
                    window_ns=window_ns,
                    window_requests=None if count is None else max(1, math.ceil(count / n)),
                    distribution=settings.distribution,
                    seed=settings.seed + i,
                    max_outstanding=max(1, settings.max_outstanding // n),
                    request_timeout_ns=int(settings.request_timeout_s * 1e9),
                    first_sequence_id=self._next_sequence_id + i * _SEQUENCE_IDS_PER_WORKER,
                )
            )
        self._next_sequence_id += n * _SEQUENCE_IDS_PER_WORKER
        return cmds

    def _run_step(self, point: LoadPoint, settings: StepSettings) -> StepResult:
        n = self._processes
        if point.concurrency is not None:
            n = min(n, point.concurrency)
        self._pool.resize(n)
        check = self._check_alive(point)
        window_s = settings.window_s
        retries = 0
        # Workers wait up to the request timeout for their requests in flight when told to stop.
        stop_timeout_s = settings.request_timeout_s + 10.0
        earlier_errors = 0  # failed requests of attempts retried with longer windows
        deadline = time.monotonic() + settings.max_step_s
        out_of_time = False
        while True:
            windows: list[RawWindow] = []
            cmds = self._commands(point, settings, window_s, n)
            stable = False
            self._pool.start(cmds)
            unanswered = 0
            try:
                start_ns = min(c.start_ns for c in cmds if c is not None)
                _sleep_until(start_ns + int(settings.warmup_s * 1e9), check)
                before = self._observer.snapshot()
                wait_s = window_s if settings.window_requests is None else max(10 * window_s, 30.0)
                wait_s += settings.request_timeout_s + 10.0
                while True:
                    records = self._pool.next_windows(wait_s, check)
                    after = self._observer.snapshot()
                    windows.append(self._merge(records, before, after, point, settings))
                    before = after
                    if settings.probe:
                        break
                    samples = [w.sample for w in windows]
                    if not settings.until_stable and len(windows) >= settings.measured_windows:
                        last = min(STABLE_WINDOWS, len(windows))
                        stable = is_stable(
                            samples, settings.stability_pct, settings.latency_stat, last
                        )
                        break
                    if len(windows) >= settings.measured_windows and is_stable(
                        samples, settings.stability_pct, settings.latency_stat
                    ):
                        stable = True
                        break
                    if len(windows) >= settings.max_trials:
                        break
                    if time.monotonic() >= deadline:
                        out_of_time = True
                        break
                unanswered = self._pool.stop(stop_timeout_s)
            except WorkerFailed as exc:
                self._pool.stop(stop_timeout_s)
                if died_within(self._is_alive, _DEATH_GRACE_S):
                    raise ServerDiedError(
                        f"Triton died while measuring {self._model!r} at {point.label}: {exc}"
                    ) from None
                raise MeasurementError(
                    f"measuring {self._model!r} at {point.label} failed: {exc}"
                ) from None
            finally:
                self._pool.stop(stop_timeout_s)
            check()
            if unanswered:
                # The model stopped answering: more windows or a retry would only wait longer.
                return build_step(
                    point, windows, False, settings, unanswered=unanswered,
                    earlier_errors=earlier_errors,
                )  # fmt: skip
            done = stable or settings.probe or not settings.until_stable
            out_of_time = out_of_time or time.monotonic() >= deadline
            if done or retries >= settings.max_window_retries or out_of_time:
                if not done and out_of_time:
                    self.notes.append(
                        f"{point.label} did not stabilise within max_step_s "
                        f"({settings.max_step_s:g} s): reported unstable after {len(windows)} "
                        f"windows of {window_s:g} s"
                    )
                elif not done:
                    self.notes.append(
                        f"{point.label} did not stabilise: {settings.latency_stat} latency and "
                        f"throughput of the last 3 of {len(windows)} windows ({window_s:g} s) "
                        f"varied by more than {settings.stability_pct:g}%"
                    )
                return build_step(point, windows, stable, settings, earlier_errors=earlier_errors)
            earlier_errors += sum(w.sample.errors for w in windows)
            retries += 1
            window_s *= 2

    def _merge(
        self,
        records: Sequence[WindowRecord],
        before: Snapshot,
        after: Snapshot,
        point: LoadPoint,
        settings: StepSettings,
    ) -> RawWindow:
        latencies: array[int] = array("q")
        ttft: array[int] = array("q")
        itl: array[int] = array("q")
        tokens = 0
        errors = 0
        samples: dict[str, None] = {}
        cpu = 0.0
        late = 0
        sent = 0
        for r in records:
            latencies.extend(r.latencies)
            ttft.extend(r.ttft)
            itl.extend(r.itl)
            tokens += r.tokens
            errors += r.errors
            for s in r.error_samples:
                samples[s] = None
                note = f"{point.label}: error from Triton: {s}"
                if note not in self.notes and len(self.notes) < 50:
                    self.notes.append(note)
            cpu = max(cpu, r.cpu_s / max(1e-9, (r.end_ns - r.start_ns) / 1e9))
            late += r.late
            sent += r.sent
        start = min(r.start_ns for r in records)
        end = max(r.end_ns for r in records)
        duration = (end - start) / 1e9
        stream = (
            stream_stats(ttft, itl, tokens, len(latencies), duration) if self.streaming else None
        )
        sample = window_sample(
            latencies, errors, duration, settings.batch_size, split_between(before, after), stream
        )
        bound = cpu >= CLIENT_BOUND_CPU
        if point.rate is not None and sent:
            bound = bound or late / sent > CLIENT_BOUND_LATE
        return RawWindow(
            sample,
            latencies,
            cpu,
            bound,
            dict(after.gauges),
            tuple(samples),
            ttft,
            itl,
            composing_between(before, after),
        )


def died_within(is_alive: Callable[[], bool], grace_s: float) -> bool:
    """Whether the server is gone, allowing it `grace_s`: a killed process closes its sockets
    (what the workers saw) before it can be reaped (what is_alive sees)."""
    deadline = time.monotonic() + grace_s
    while is_alive():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _sleep_until(t_ns: int, check: Callable[[], None]) -> None:
    while True:
        left = (t_ns - time.monotonic_ns()) / 1e9
        if left <= 0:
            return
        time.sleep(min(left, 0.2))
        check()
