"""The perf_analyzer driver: run NVIDIA's perf_analyzer once per step and read its results.

Users with the SDK container get perf_analyzer's own numbers through our gate. Per step we run
`perf_analyzer --concurrency-range C` (or `--request-rate-range R`) with our window, stability
and trial settings, and read:
- the CSV (-f, --verbose-csv): the step's throughput, percentiles and server split, as
  perf_analyzer reports them (over its last, stable, windows);
- the profile export (--profile-export-file): every request's send and response timestamps and
  the window boundaries, from which the per-window samples are rebuilt;
- the verbose log's "Pass [n]" lines when the step does not stabilise (perf_analyzer then
  writes neither file), so an unstable step still shows what each window saw.
Its CPU use (RUSAGE_CHILDREN) flags steps where perf_analyzer itself was the limit.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_triton.errors import ConfigError, MeasurementError, ServerDiedError
from pytest_triton.load.stats import client_overhead_us, window_sample
from pytest_triton.observe.observer import Observer, split_between
from pytest_triton.process import die_with_parent
from pytest_triton.result import ServerSplit, StepResult, WindowSample
from pytest_triton.server.base import Endpoints
from pytest_triton.spec import LoadSpec

from . import inputs, server_reads
from .model_kind import use_streaming
from .step import LoadPoint, StepSettings

CLIENT_BOUND_CPU = 0.85
_PASS_LINE = re.compile(r"Pass \[(\d+)\] throughput: ([0-9.]+) infer/sec\. Avg latency: (\d+) usec")


def find_perf_analyzer(explicit: str | None = None) -> Path:
    """The binary: explicit path, $PERF_ANALYZER, PATH, then the provision script's .tools/."""
    if explicit:
        if Path(explicit).is_file() and os.access(explicit, os.X_OK):
            return Path(explicit)
        raise MeasurementError(f"perf_analyzer_path {explicit!r} is not an executable file")
    candidates: list[str | None] = [
        explicit,
        os.environ.get("PERF_ANALYZER"),
        shutil.which("perf_analyzer"),
    ]
    repo = Path(__file__).resolve().parents[2]
    candidates += [
        str(repo / ".tools" / "perf_analyzer" / "perf_analyzer"),
        str(Path.cwd() / ".tools" / "perf_analyzer" / "perf_analyzer"),
    ]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return Path(c)
    raise MeasurementError(
        "driver perf_analyzer: no perf_analyzer binary found (looked at $PERF_ANALYZER, PATH "
        "and .tools/perf_analyzer/); run scripts/provision_perf_analyzer.sh or set "
        "PERF_ANALYZER=/path/to/perf_analyzer"
    )


def build_argv(
    binary: Path,
    endpoints: Endpoints,
    model: str,
    version: str | None,
    load: LoadSpec,
    point: LoadPoint,
    settings: StepSettings,
    window_s: float,
    csv_path: Path,
    export_path: Path,
    shapes: Mapping[str, Sequence[int]] | None = None,
) -> list[str]:
    """perf_analyzer's command line for one step (argv, never a shell string)."""
    url = endpoints.grpc if load.protocol == "grpc" else endpoints.http
    argv = [str(binary), "-v", "-m", model]
    if version:
        argv += ["-x", str(version)]
    argv += ["-u", url, "-i", load.protocol, "-b", str(settings.batch_size)]
    if settings.window_requests is not None and not settings.probe:
        argv += [
            "--measurement-mode",
            "count_windows",
            "--measurement-request-count",
            str(settings.window_requests),
        ]
    argv += ["--measurement-interval", str(max(1, round(window_s * 1000)))]
    trials = 3 if settings.probe else settings.max_trials
    argv += ["-s", f"{settings.stability_pct:g}", "-r", str(trials)]
    if settings.latency_stat.startswith("p"):
        argv += [f"--percentile={settings.latency_stat[1:]}"]
    if point.concurrency is not None:
        argv += ["--concurrency-range", str(point.concurrency)]
    else:
        assert point.rate is not None
        argv += [
            "--request-rate-range",
            f"{point.rate:g}",
            "--request-distribution",
            settings.distribution,
            "--max-threads",
            "16",
        ]
    for name, dims in (shapes or {}).items():
        argv += ["--shape", f"{name}:{','.join(str(d) for d in dims)}"]
    argv += ["--input-data", load.input_data]
    argv += ["-f", str(csv_path), "--verbose-csv", "--profile-export-file", str(export_path)]
    return argv


@dataclass(frozen=True)
class CsvRow:
    throughput: float
    avg_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    split: ServerSplit
    client_send_us: float
    client_recv_us: float


def parse_csv(text: str) -> CsvRow:
    """The single data row of perf_analyzer's -f CSV (latency columns are in µs)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    rows = [r for r in rows if any((v or "").strip() for v in r.values())]
    if not rows:
        raise MeasurementError("perf_analyzer wrote a CSV without a result row")
    row = rows[0]

    def num(key: str) -> float:
        value = (row.get(key) or "").strip()
        try:
            return float(value)
        except ValueError:
            return math.nan

    def ms(key: str) -> float:
        return num(key) / 1000.0

    split = ServerSplit(
        queue_us=num("Server Queue"),
        compute_input_us=num("Server Compute Input"),
        compute_infer_us=num("Server Compute Infer"),
        compute_output_us=num("Server Compute Output"),
        requests=1,  # perf_analyzer gives averages only; nonzero marks the split as known
    )
    avg = ms("Avg latency")
    if math.isnan(avg):
        # non-verbose CSVs have no average: its components add up to it
        parts = ("Client Send", "Network+Server Send/Recv", "Server Queue",
                 "Server Compute Input", "Server Compute Infer", "Server Compute Output",
                 "Client Recv")  # fmt: skip
        avg = sum(num(k) for k in parts) / 1000.0
    return CsvRow(
        throughput=num("Inferences/Second"),
        avg_ms=avg,
        p50_ms=ms("p50 latency"),
        p90_ms=ms("p90 latency"),
        p95_ms=ms("p95 latency"),
        p99_ms=ms("p99 latency"),
        split=split,
        client_send_us=num("Client Send"),
        client_recv_us=num("Client Recv"),
    )


def parse_export(doc: Mapping[str, Any], batch_size: int) -> list[tuple[WindowSample, list[int]]]:
    """Per-window samples from a profile export: a request belongs to the window its response
    arrived in; latency is response minus send timestamp."""
    experiments = doc.get("experiments") or []
    if not experiments:
        return []
    exp = experiments[-1]
    bounds = [int(b) for b in exp.get("window_boundaries", [])]
    if len(bounds) < 2:
        return []
    buckets: list[list[int]] = [[] for _ in range(len(bounds) - 1)]
    for req in exp.get("requests", []):
        responses = req.get("response_timestamps") or []
        if not responses:
            continue
        sent = int(req["timestamp"])
        done = int(responses[-1])
        for i in range(len(bounds) - 1):
            if bounds[i] <= done < bounds[i + 1]:
                buckets[i].append(done - sent)
                break
    out = []
    for i, lat in enumerate(buckets):
        duration = (bounds[i + 1] - bounds[i]) / 1e9
        out.append((window_sample(lat, 0, duration, batch_size), lat))
    return out


def parse_passes(log: str, window_s: float, batch_size: int) -> list[WindowSample]:
    """Window samples from the verbose log's 'Pass [n] throughput: X infer/sec. Avg latency: Y
    usec' lines (only throughput and average are known)."""
    out = []
    for match in _PASS_LINE.finditer(log):
        throughput = float(match.group(2))
        avg_ms = float(match.group(3)) / 1000.0
        nan = math.nan
        out.append(
            WindowSample(
                duration_s=window_s,
                requests=round(throughput * window_s / batch_size),
                errors=0,
                throughput=throughput,
                avg_ms=avg_ms,
                p50_ms=nan,
                p90_ms=nan,
                p95_ms=nan,
                p99_ms=nan,
            )
        )
    return out


class PerfAnalyzerDriver:
    name = "perf_analyzer"

    def __init__(
        self,
        endpoints: Endpoints,
        model: str,
        version: str | None,
        load: LoadSpec,
        observer: Observer,
        is_alive: Callable[[], bool],
    ) -> None:
        self.notes: list[str] = []
        self.streaming = False  # decoupled models are refused below
        self._endpoints = endpoints
        self._model = model
        self._version = version
        self._load = load
        self._observer = observer
        self._is_alive = is_alive
        self._binary = find_perf_analyzer(load.perf_analyzer_path)
        # Fail on shapes before any perf_analyzer run, with our message rather than its.
        io_ = inputs.model_io(
            model, version, server_reads.model_config(endpoints.http, model, version)
        )
        if load.input_data in ("random", "zero"):
            inputs.resolve_shapes(io_, load.shapes)
        if use_streaming(io_, load):
            raise ConfigError(
                f"model {model!r} is decoupled: driver='perf_analyzer' reports no time to first "
                "token or inter-token latency for it; use the native driver (the default)"
            )
        self._shapes = {k: tuple(v) for k, v in load.shapes.items()}
        self._tmp = tempfile.TemporaryDirectory(prefix="pytest-triton-pa-")

    def close(self) -> None:
        self._tmp.cleanup()

    def run_step(self, point: LoadPoint, settings: StepSettings) -> StepResult:
        window_s = settings.window_s
        retries = 0
        deadline = time.monotonic() + settings.max_step_s  # checked between its runs
        while True:
            step = self._run_once(point, settings, window_s)
            out_of_time = time.monotonic() >= deadline
            if (
                step.stable
                or settings.probe
                or retries >= settings.max_window_retries
                or out_of_time
            ):
                if not step.stable and not settings.probe:
                    self.notes.append(f"{point.label}: perf_analyzer did not stabilise")
                return step
            retries += 1
            window_s *= 2

    def _run_once(self, point: LoadPoint, settings: StepSettings, window_s: float) -> StepResult:
        tmp = Path(self._tmp.name)
        csv_path = tmp / f"{point.label}.csv"
        export_path = tmp / f"{point.label}.json"
        log_path = tmp / f"{point.label}.log"
        for p in (csv_path, export_path):
            p.unlink(missing_ok=True)
        argv = build_argv(
            self._binary, self._endpoints, self._model, self._version, self._load, point,
            settings, window_s, csv_path, export_path, self._shapes,
        )  # fmt: skip
        before = self._observer.snapshot()
        returncode, gauges, cpu = self._run(argv, log_path, point, window_s)
        after = self._observer.snapshot()
        gauges.append(after.gauges)
        text = log_path.read_text(errors="replace")
        if returncode not in (0, 2) or (returncode == 2 and "stable" not in text):
            tail = "\n".join(text.splitlines()[-15:])
            raise MeasurementError(
                f"perf_analyzer failed at {point.label} (exit {returncode}):\n{tail}"
            )
        from pytest_triton.observe.metrics import summarise

        metrics = summarise(gauges)
        metrics["client_cpu"] = cpu
        ours = split_between(before, after)
        if returncode == 2 or not csv_path.exists():
            windows = parse_passes(text, window_s, settings.batch_size)
            return _unstable_step(point, settings, windows, ours, metrics)
        return _stable_step(point, settings, csv_path, export_path, ours, metrics)

    def _run(
        self, argv: list[str], log_path: Path, point: LoadPoint, window_s: float
    ) -> tuple[int, list[dict[str, float]], float]:
        """Run perf_analyzer to its end, watching the server and scraping its gauges once a
        window: its exit status, the gauges, and the CPUs it used."""
        gauges: list[dict[str, float]] = []
        cpu0 = _children_cpu()
        t0 = time.monotonic()
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,  # a SIGKILLed pytest must not leave load running
            )
            try:
                next_scrape = time.monotonic() + window_s
                while proc.poll() is None:
                    time.sleep(0.2)
                    if not self._is_alive():
                        raise ServerDiedError(
                            f"Triton died while perf_analyzer measured {self._model!r} at "
                            f"{point.label}"
                        )
                    if time.monotonic() >= next_scrape:
                        gauges.append(self._observer.snapshot().gauges)
                        next_scrape += window_s
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        wall = time.monotonic() - t0
        return proc.returncode, gauges, (_children_cpu() - cpu0) / max(wall, 1e-9)


def _unstable_step(
    point: LoadPoint,
    settings: StepSettings,
    windows: list[WindowSample],
    ours: ServerSplit,
    metrics: dict[str, float],
) -> StepResult:
    """perf_analyzer gave up on stability: its last passes, without percentiles (it reports
    none for them)."""
    last = windows[-3:]
    total = sum(w.duration_s for w in last)
    nan = math.nan
    return StepResult(
        concurrency=point.concurrency,
        request_rate=point.rate,
        windows=tuple(windows),
        stable=False,
        throughput=sum(w.throughput * w.duration_s for w in last) / total if total else 0.0,
        avg_ms=sum(w.avg_ms for w in last) / len(last) if last else nan,
        p50_ms=nan,
        p90_ms=nan,
        p95_ms=nan,
        p99_ms=nan,
        requests=sum(w.requests for w in last),
        errors=0,
        server=ours,
        client_bound=metrics["client_cpu"] >= CLIENT_BOUND_CPU,
        metrics=metrics,
        measured_windows=len(last),
        probe=settings.probe,
    )


def _stable_step(
    point: LoadPoint,
    settings: StepSettings,
    csv_path: Path,
    export_path: Path,
    ours: ServerSplit,
    metrics: dict[str, float],
) -> StepResult:
    """A stable step from perf_analyzer's CSV row, its windows from the export."""
    row = parse_csv(csv_path.read_text())
    windows_raw = (
        parse_export(json.loads(export_path.read_text()), settings.batch_size)
        if export_path.exists()
        else []
    )
    measured = windows_raw[-3:]
    requests = sum(w.requests for w, _ in measured)
    # perf_analyzer's split has no overhead column; take Triton's from our snapshots
    split = ServerSplit(
        queue_us=row.split.queue_us,
        compute_input_us=row.split.compute_input_us,
        compute_infer_us=row.split.compute_infer_us,
        compute_output_us=row.split.compute_output_us,
        overhead_us=ours.overhead_us,
        requests=requests or ours.requests,
    )
    return StepResult(
        concurrency=point.concurrency,
        request_rate=point.rate,
        windows=tuple(w for w, _ in windows_raw),
        stable=True,
        throughput=row.throughput,
        avg_ms=row.avg_ms,
        p50_ms=row.p50_ms,
        p90_ms=row.p90_ms,
        p95_ms=row.p95_ms,
        p99_ms=row.p99_ms,
        requests=requests,
        errors=0,
        server=split,
        client_overhead_us=client_overhead_us(row.avg_ms, split),
        client_bound=metrics["client_cpu"] >= CLIENT_BOUND_CPU,
        metrics=metrics,
        measured_windows=len(measured),
        probe=settings.probe,
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
