"""What the plugin costs a suite with no triton tests: `pytest --collect-only` with and without.

    .venv/bin/python benchmarks/collect_overhead.py [--runs 30] [--tests 50]

Runs alternate (with, without, with, ...) so background load hits both alike; prints the median
of each and the difference. The target is <= 30 ms (issue 2).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _suite(directory: Path, tests: int) -> None:
    for i in range(tests):
        (directory / f"test_plain_{i}.py").write_text(f"def test_{i}():\n    assert {i} == {i}\n")


def _env() -> dict[str, str]:
    # Users' Pythons cache bytecode (and pytest its assertion-rewritten modules); a shell with
    # PYTHONDONTWRITEBYTECODE set would recompile every module on every run and measure that.
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _time(directory: Path, extra: list[str]) -> float:
    argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    started = time.perf_counter()
    subprocess.run(argv + extra, cwd=directory, check=True, capture_output=True, env=_env())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--tests", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        _suite(directory, args.tests)
        _time(directory, [])  # warm the file system and bytecode caches
        _time(directory, ["-p", "no:triton"])
        with_plugin, without = [], []
        for _ in range(args.runs):
            with_plugin.append(_time(directory, []))
            without.append(_time(directory, ["-p", "no:triton"]))
    a, b = statistics.median(with_plugin), statistics.median(without)
    print(f"collect-only, {args.tests} plain tests, {args.runs} alternating runs")
    print(f"  with pytest-triton:    median {a * 1000:7.1f} ms")
    print(f"  without (-p no:triton): median {b * 1000:7.1f} ms")
    print(f"  plugin overhead:        {(a - b) * 1000:7.1f} ms (target <= 30 ms)")


if __name__ == "__main__":
    main()
