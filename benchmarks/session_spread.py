"""How much do an unchanged build's sessions differ, with and without a fixed memory layout?

A stored baseline is one session (or a few); every later comparison is another. Whatever moves
whole sessions, not windows within one, goes straight into the verdict. This runs the chosen
example tests as fresh pytest sessions (a fresh server each), alternating `--triton-aslr=off`
and `on` so both see the same host drift, and prints per step and metric the spread of the
session figures (SD, % of the mean) next to the typical spread of windows within a session.

    python benchmarks/session_spread.py --rounds 5          # about 7 minutes on 2 cores

Baselines are off; the measurements are read back from each session's JSON report.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pytest_triton.baseline.codec import measurement_from
from pytest_triton.result import metric_value

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TESTS = (
    "example_suite/test_numpy_compute.py::test_numpy_compute_single_instance",
    "example_suite/test_tiny.py",
)
METRICS = ("p50", "throughput")


def run_session(tests: Sequence[str], aslr: str, report: Path, extra: Sequence[str]) -> None:
    command = [
        sys.executable,
        "-m",
        "pytest",
        *tests,
        "-p",
        "no:cacheprovider",
        "-q",
        "--triton-baseline=off",
        "--triton-checkpoint-dir=off",
        f"--triton-aslr={aslr}",
        f"--triton-report-json={report}",
        *extra,
    ]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"session failed ({proc.returncode}):\n{proc.stdout[-3000:]}")


def figures(report: Path) -> dict[str, tuple[float, float]]:
    """'test step metric' -> (step value, SD of its windows in % of it)."""
    out: dict[str, tuple[float, float]] = {}
    for result in json.loads(report.read_text())["results"]:
        measurement = measurement_from(result["measurement"])
        name = result["test"].split("::")[-1]
        for step in (s for s in measurement.steps if not s.probe):
            for metric in METRICS:
                value = metric_value(step, metric)
                windows = [metric_value(w, metric) for w in step.measured]
                within = statistics.stdev(windows) / value * 100 if len(windows) > 1 else 0.0
                out[f"{name} {step.load_point} {metric}"] = (value, within)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="sessions per setting")
    parser.add_argument("--tests", action="append", default=None)
    parser.add_argument(
        "--pytest-arg",
        action="append",
        default=[],
        help="extra pytest argument (repeatable), e.g. --pytest-arg=--triton-window=2",
    )
    args = parser.parse_args(argv)
    tests = args.tests or list(DEFAULT_TESTS)
    workdir = Path(tempfile.mkdtemp(prefix="session-spread-"))
    sessions: dict[str, list[dict[str, tuple[float, float]]]] = {"off": [], "on": []}
    for i in range(1, args.rounds + 1):
        for aslr in ("off", "on"):
            report = workdir / f"{aslr}-{i}.json"
            run_session(tests, aslr, report, args.pytest_arg)
            sessions[aslr].append(figures(report))
            print(f"round {i}/{args.rounds}: aslr {aslr} done", flush=True)
    print(f"\n{args.rounds} sessions per setting, alternating; spread of session figures (SD):")
    for row in sorted(sessions["off"][0]):
        parts = []
        for aslr in ("off", "on"):
            values = [s[row][0] for s in sessions[aslr] if row in s]
            within = statistics.median(s[row][1] for s in sessions[aslr] if row in s)
            sd = statistics.stdev(values) / statistics.fmean(values) * 100
            parts.append(
                f"aslr {aslr}: mean {statistics.fmean(values):.4g}, sessions {sd:.1f}%, "
                f"windows {within:.1f}%"
            )
        print(f"  {row}: " + " | ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
