"""Native load driver versus perf_analyzer against the same real Triton, same run.

Starts the bundled tritonserver on the example models, then for each model and concurrency
measures with perf_analyzer and with the native driver, alternating (PA, native, PA, native...)
so slow drift of a shared machine hits both alike, each measured to stability by the engine
with the same window and stability settings. Prints per-round figures and the median ratios:

    native throughput / perf_analyzer throughput   (targets: >= 0.90 tiny, >= 0.98 server-bound)
    native p50 / perf_analyzer p50                 (target: within 10%)

    scripts/provision_perf_analyzer.sh
    .venv/bin/python benchmarks/native_vs_perf_analyzer.py [--rounds 3] [--protocol grpc]

`numpy_compute` is the server-bound model; EXAMPLE_WORK_SCALE (default here 1) scales its work,
the printed compute time says how many ms a request really costs.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from pathlib import Path

from pytest_triton.load.engine import measure
from pytest_triton.result import StepResult
from pytest_triton.server.local import LocalServer
from pytest_triton.server.models import ModelController
from pytest_triton.spec import LoadSpec, ModelSpec, ServerSpec

REPO = Path(__file__).resolve().parent.parent


def step_line(tag: str, s: StepResult) -> str:
    return (
        f"  {tag:<14} {s.throughput:9.1f} infer/s  p50 {s.p50_ms:7.3f} ms  p99 {s.p99_ms:7.3f} ms"
        f"  compute {s.server.compute_infer_us / 1000:6.3f} ms  client cpu "
        f"{s.metrics.get('client_cpu', 0):4.0%}  {'stable' if s.stable else 'UNSTABLE'}"
        f"{'  CLIENT-BOUND' if s.client_bound else ''}"
    )


def _median(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--protocol", default="grpc", choices=("grpc", "http"))
    parser.add_argument("--models", default="tiny,numpy_compute")
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--work-scale", default="1")
    # Window growth retries multiply a step's time on a busy machine; 0 keeps a round bounded
    # (max_trials windows) and an unstable step is still shown as such.
    parser.add_argument("--retries", type=int, default=0)
    args = parser.parse_args()
    models = args.models.split(",")
    levels = [int(c) for c in args.concurrency.split(",")]
    spec = ServerSpec(
        "local",
        model_repository=REPO / "example_suite" / "model_repository",
        env={"EXAMPLE_WORK_SCALE": args.work_scale},
    )
    results: dict[tuple[str, int], dict[str, list[StepResult]]] = {}
    with tempfile.TemporaryDirectory() as tmp, LocalServer(spec, Path(tmp)) as server:
        controller = ModelController(server.endpoints.http, spec.model_repository)
        for model in models:
            controller.load(ModelSpec(model))
        print(f"server {server.endpoints}, protocol {args.protocol}, window {args.window:g} s")
        for model in models:
            for c in levels:
                key = (model, c)
                results[key] = {"perf_analyzer": [], "native": []}
                print(f"{model} c{c}")
                for r in range(args.rounds):
                    for driver in ("perf_analyzer", "native"):
                        load = LoadSpec(
                            concurrency=(c,),
                            driver=driver,
                            protocol=args.protocol,
                            window_s=args.window,
                            warmup_s=1.0,
                            max_window_retries=args.retries,
                        )
                        m = measure(server.endpoints, model, None, load, is_alive=server.is_alive)
                        step = m.steps[0]
                        results[key][driver].append(step)
                        print(step_line(f"r{r + 1} {driver}", step), flush=True)
    print()
    print(
        f"{'model':<14} {'c':>3} {'PA infer/s':>11} {'native':>9} {'ratio':>6} {'paired':>7} "
        f"{'PA p50':>8} {'native':>8} {'ratio':>6} {'paired':>7}"
    )
    for (model, c), by in results.items():
        pa, na = by["perf_analyzer"], by["native"]
        pa_t = statistics.median(s.throughput for s in pa)
        na_t = statistics.median(s.throughput for s in na)
        pa_p = _median([s.p50_ms for s in pa])
        na_p = _median([s.p50_ms for s in na])
        # paired: the median of each round's native/PA ratio; a round's two runs are adjacent
        # in time, so they share the machine's background load better than all-round medians
        t_pair = statistics.median(n.throughput / p.throughput for p, n in zip(pa, na, strict=True))
        p_pairs = [n.p50_ms / p.p50_ms for p, n in zip(pa, na, strict=True) if p.p50_ms > 0]
        p_pair = statistics.median(p_pairs) if p_pairs else float("nan")
        print(
            f"{model:<14} {c:>3} {pa_t:>11.1f} {na_t:>9.1f} {na_t / pa_t:>6.2f} {t_pair:>7.2f} "
            f"{pa_p:>8.3f} {na_p:>8.3f} {na_p / pa_p:>6.2f} {p_pair:>7.2f}"
        )
    print(
        f"(medians over {len(next(iter(results.values()))['native'])} rounds; p50 of an "
        "unstable perf_analyzer step is unknown: nan)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
