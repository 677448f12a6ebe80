"""`auto` ramp versus a full 1..128 doubling sweep: same max throughput, less wall time?

Target: the auto ramp's best measured throughput within 5% of the sweep's, in <= 40% of the
sweep's wall time. Both use the engine's default window and stability settings; they alternate
(sweep, auto, sweep, auto...) on the same server so machine drift hits both.

    .venv/bin/python benchmarks/auto_ramp.py [--model tiny] [--rounds 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from pytest_triton.load.engine import measure
from pytest_triton.load.points import doubling
from pytest_triton.load.progress import step_line
from pytest_triton.result import StepResult
from pytest_triton.server.local import LocalServer
from pytest_triton.server.models import ModelController
from pytest_triton.spec import LoadSpec, ModelSpec, ServerSpec

REPO = Path(__file__).resolve().parent.parent


def show(step: StepResult) -> None:
    print("   ", step_line(step), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max", type=int, default=128)
    parser.add_argument("--window", type=float, default=2.0)
    args = parser.parse_args()
    spec = ServerSpec("local", model_repository=REPO / "example_suite" / "model_repository")
    rows = []
    with tempfile.TemporaryDirectory() as tmp, LocalServer(spec, Path(tmp)) as server:
        ModelController(server.endpoints.http, spec.model_repository).load(ModelSpec(args.model))
        for r in range(args.rounds):
            print(f"round {r + 1}: full sweep {doubling(args.max)}")
            sweep = measure(
                server.endpoints,
                args.model,
                None,
                LoadSpec(concurrency=doubling(args.max), window_s=args.window),
                is_alive=server.is_alive,
                progress=show,
            )
            print(f"round {r + 1}: auto (max {args.max})")
            auto = measure(
                server.endpoints,
                args.model,
                None,
                LoadSpec(concurrency=(), auto=True, max_concurrency=args.max, window_s=args.window),
                is_alive=server.is_alive,
                progress=show,
            )
            sweep_best = max(s.throughput for s in sweep.steps)
            auto_best = max(s.throughput for s in auto.steps)
            rows.append((sweep_best, sweep.duration_s, auto_best, auto.duration_s))
            print(
                f"  sweep best {sweep_best:.1f} infer/s in {sweep.duration_s:.1f} s; auto best "
                f"{auto_best:.1f} infer/s in {auto.duration_s:.1f} s; notes: {auto.notes}"
            )
    print()
    print(
        f"{'round':>5} {'sweep max':>10} {'sweep s':>8} {'auto max':>9} {'auto s':>7} "
        f"{'max ratio':>9} {'time ratio':>10}"
    )
    for i, (sb, sd, ab, ad) in enumerate(rows, 1):
        print(
            f"{i:>5} {sb:>10.1f} {sd:>8.1f} {ab:>9.1f} {ad:>7.1f} {ab / sb:>9.3f} {ad / sd:>10.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
