"""Config search against Model Analyzer itself: same model, spaces and constraints, one run.

Model Analyzer 1.58 (scripts/provision_model_analyzer.sh: its own venv, perf_analyzer 2.41)
runs in local launch mode against the same bundled tritonserver as ours, through a wrapper
script that sets it up as LocalServer does (server/bundled.py). Our search runs as pytest on a
Model Analyzer YAML config: the same file less the keys that only Model Analyzer reads.

Scenarios, on the example suite's numpy_compute (CPU instances, one BLAS thread each):

* manual: instance_group count [1, 2] x concurrency [1, 2, 4, 8], brute, no constraint;
* quick:  the automatic space bounded to 3 instances, max_batch_size 8 and concurrency 16,
          within a 50 ms p99 latency budget: Model Analyzer's quick mode against our quick
          and our brute over the same space.
* wide:   a space of 48 configs (max_batch_size 1..32, 1..4 instances, queue delay 0 or
          500 us), the same budget, concurrency up to 32: our quick against our brute. A hill
          climb pays where the space is large: on the quick scenario's 12 configs it looks at
          most of them. Ours alone: Model Analyzer's quick mode searches only its automatic
          space (instance count and max_batch_size).

Printed: each tool's wall time and winner (config, throughput, p99), our wall time over Model
Analyzer's, our winner's throughput over its winner's, and quick over brute (time and best).
Targets (issue 19): the same winner or one within 5 % of its objective in at most Model
Analyzer's wall time; quick within 5 % of brute's best in at most 30 % of brute's time.

    scripts/provision_model_analyzer.sh
    python benchmarks/search_vs_model_analyzer.py [--workdir DIR] [--scenarios manual,quick,wide]
        [--model-analyzer-brute]   # its brute mode on the quick space too: its own ratio
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pytest_triton.server.bundled import backend_flags, bundled_env, bundled_server_root

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "example_suite" / "model_repository"
MODEL = "numpy_compute"
ANALYZER = REPO / ".tools" / "model-analyzer" / "venv" / "bin" / "model-analyzer"
PERF_ANALYZER = REPO / ".tools" / "perf_analyzer" / "perf_analyzer"
MA_TIMEOUT_S = 900.0

SCENARIOS: dict[str, dict[str, Any]] = {
    "manual": {
        "run_config_search_mode": "brute",
        "profile_models": {
            MODEL: {
                "cpu_only": True,
                "model_config_parameters": {
                    "instance_group": [{"kind": "KIND_CPU", "count": [1, 2]}]
                },
                "parameters": {"concurrency": [1, 2, 4, 8]},
            }
        },
    },
    "quick": {
        "run_config_search_mode": "quick",
        "run_config_search_max_instance_count": 3,
        "run_config_search_max_model_batch_size": 8,
        "run_config_search_max_concurrency": 16,
        "latency_budget": 50,
        "profile_models": {MODEL: {"cpu_only": True}},
    },
    "wide": {
        "run_config_search_mode": "quick",
        "run_config_search_max_concurrency": 32,
        "latency_budget": 50,
        "profile_models": {
            MODEL: {
                "cpu_only": True,
                "model_config_parameters": {
                    "max_batch_size": [1, 2, 4, 8, 16, 32],
                    "instance_group": [{"kind": "KIND_CPU", "count": [1, 2, 3, 4]}],
                    "dynamic_batching": {"max_queue_delay_microseconds": [0, 500]},
                },
            }
        },
    },
}
# Scenarios Model Analyzer cannot run as asked (see the module docstring): ours only.
OURS_ONLY = {"wide"}


@dataclass
class Outcome:
    tool: str
    scenario: str
    mode: str  # the search mode it ran
    seconds: float
    winner: str
    throughput: float
    p99_ms: float
    measured: int  # configs (with their load points) the tool measured


def server_wrapper(workdir: Path) -> Path:
    """A tritonserver for Model Analyzer: the wheel's, set up as LocalServer does."""
    root = bundled_server_root()
    if root is None:
        raise SystemExit("no bundled tritonserver: pip install 'pytest-triton[server]'")
    flags = backend_flags(root, workdir / "server")
    env = bundled_env(root, {})
    wrapper = workdir / "tritonserver"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"export LD_LIBRARY_PATH={shlex.quote(env['LD_LIBRARY_PATH'])}"
        "${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\n"
        f"export PATH={shlex.quote(env['PATH'])}:$PATH\n"
        f"exec {shlex.quote(str(root / 'bin' / 'tritonserver'))} "
        + " ".join(f"--{k}={shlex.quote(v)}" for k, v in flags.items())
        + ' "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def run_model_analyzer(scenario: str, workdir: Path, mode: str | None = None) -> Outcome:
    here = workdir / f"ma-{scenario}-{mode or 'as-asked'}"
    here.mkdir(parents=True, exist_ok=True)
    config = {
        "model_repository": str(MODELS),
        "triton_launch_mode": "local",
        "triton_server_path": str(server_wrapper(workdir)),
        "perf_analyzer_path": str(PERF_ANALYZER),
        "output_model_repository_path": str(here / "output"),
        "override_output_model_repository": True,
        "export_path": str(here / "export"),
        "checkpoint_directory": str(here / "checkpoints"),
        **SCENARIOS[scenario],
    }
    if mode is not None:
        config["run_config_search_mode"] = mode
    path = here / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    started = time.monotonic()
    log = here / "model-analyzer.log"
    with log.open("w") as out:
        # Its own session: Model Analyzer starts tritonserver and perf_analyzer, and on a
        # timeout the whole group is stopped, so nothing it started is left running.
        proc = subprocess.Popen(
            [str(ANALYZER), "profile", "-f", str(path)],
            cwd=here,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=MA_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise SystemExit(f"model-analyzer ran over {MA_TIMEOUT_S:g} s; see {log}") from None
    seconds = time.monotonic() - started
    if code != 0:
        raise SystemExit(f"model-analyzer failed ({code}); see {log}")
    rows = list(
        csv.DictReader((here / "export" / "results" / "metrics-model-inference.csv").open())
    )
    good = [r for r in rows if r.get("Satisfies Constraints", "Yes").strip() == "Yes"] or rows
    best = good[0]  # Model Analyzer writes its results best first
    winner = (
        f"{best['Model Config Path']} ({best['Instance Group']}, max_batch_size "
        f"{best['Max Batch Size']})"
    )
    return Outcome(
        "model-analyzer",
        scenario,
        str(config["run_config_search_mode"]),
        seconds,
        winner,
        float(best["Throughput (infer/sec)"]),
        float(best["p99 Latency (ms)"]),
        len(rows),
    )


def run_ours(scenario: str, workdir: Path, mode: str | None = None) -> Outcome:
    here = workdir / f"ours-{scenario}-{mode or 'as-asked'}"
    here.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {"model_repository": str(MODELS), **SCENARIOS[scenario]}
    if mode is not None:
        config["run_config_search_mode"] = mode
    (here / "perf.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "perf.yaml",
            "-p",
            "no:cacheprovider",
            "--triton-baseline=off",
            "--triton-env",
            "OPENBLAS_NUM_THREADS=1",
            f"--triton-report-json={here / 'report.json'}",
        ],
        cwd=here,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    (here / "pytest.log").write_text(proc.stdout + proc.stderr)
    report = json.loads((here / "report.json").read_text())
    (result,) = report["results"]
    rows = result["search"]["configs"]
    best = rows[0]
    return Outcome(
        "pytest-triton",
        scenario,
        str(config["run_config_search_mode"]),
        seconds,
        best["config"],
        float(best["throughput"]),
        float(best["p99_ms"]),
        sum(r["throughput"] is not None for r in rows),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--scenarios", default="manual,quick")
    parser.add_argument(
        "--model-analyzer-brute",
        action="store_true",
        help="also run Model Analyzer's brute mode on the quick scenario's space, for its own "
        "quick-over-brute ratio",
    )
    args = parser.parse_args(argv)
    if not set(args.scenarios.split(",")) <= OURS_ONLY and not ANALYZER.exists():
        raise SystemExit(
            "Model Analyzer is not provisioned: run scripts/provision_model_analyzer.sh"
        )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="search-vs-ma-"))
    print(f"workdir: {workdir}", flush=True)
    outcomes: list[Outcome] = []
    for scenario in args.scenarios.split(","):
        # Side by side and alternating, so a slow quarter hour does not land on one tool.
        if scenario not in OURS_ONLY:
            outcomes.append(run_model_analyzer(scenario, workdir))
            print(outcomes[-1], flush=True)
        outcomes.append(run_ours(scenario, workdir))
        print(outcomes[-1], flush=True)
        if scenario in ("quick", "wide"):
            outcomes.append(run_ours(scenario, workdir, mode="brute"))
            print(outcomes[-1], flush=True)
            if args.model_analyzer_brute and scenario not in OURS_ONLY:
                outcomes.append(run_model_analyzer(scenario, workdir, mode="brute"))
                print(outcomes[-1], flush=True)
    print()
    for o in outcomes:
        print(
            f"{o.tool:<14} {o.scenario:<7} {o.mode:<6} {o.seconds:6.0f} s  {o.measured:>3} "
            f"measured  best: {o.winner}: {o.throughput:.1f} infer/s, p99 {o.p99_ms:.1f} ms"
        )
    by = {(o.tool, o.scenario, o.mode): o for o in outcomes}
    for scenario in args.scenarios.split(","):
        if scenario in OURS_ONLY:
            continue
        mode = str(SCENARIOS[scenario]["run_config_search_mode"])
        ma, ours = by[("model-analyzer", scenario, mode)], by[("pytest-triton", scenario, mode)]
        print(
            f"{scenario}: our time / Model Analyzer's {ours.seconds / ma.seconds:.2f}, our "
            f"winner's throughput / its winner's {ours.throughput / ma.throughput:.3f}"
        )
    for scenario in ("quick", "wide"):
        for tool, label in (("pytest-triton", "our"), ("model-analyzer", "Model Analyzer's")):
            quick, brute = by.get((tool, scenario, "quick")), by.get((tool, scenario, "brute"))
            if quick and brute:
                print(
                    f"{scenario}: {label} quick / {label} brute: time "
                    f"{quick.seconds / brute.seconds:.2f}, best throughput "
                    f"{quick.throughput / brute.throughput:.3f}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
