"""Judge the runs of a baseline_trust benchmark again, offline, under other gate settings.

`benchmarks/baseline_trust.py` leaves every run's complete measurements in its checkpoints. A
verdict is a pure function of baseline, current run and settings, so the same measurements can
be judged again with another run-to-run noise, tolerance or confidence in seconds, without a
server: which settings would have cried wolf on the unchanged runs, and which would have caught
the injected slowdowns. This is how the defaults were chosen (docs/baselines.md); settings picked
on the same runs they are scored on flatter themselves, so read it as a trade-off curve, not as
a second measurement.

    python benchmarks/baseline_replay.py WORKDIR --run-noise 0,0.01,0.02,0.03 --tolerance 0.05
    python benchmarks/baseline_replay.py WORKDIR --sessions 1,3,5

`--sessions K` replays a baseline of K sessions, as K-1 more `update` runs would have kept: the
recorded baseline plus the first K-1 unchanged runs as its earlier sessions (those runs are then
not scored). Sessions of an unchanged build are interchangeable, so which runs stand in for the
extra updates does not matter, only that they are not also judged.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from baseline_trust import stored_records

from pytest_triton.baseline.checkpoint import CheckpointRecord, read_checkpoint
from pytest_triton.baseline.gate import machine_from
from pytest_triton.baseline.sessions import summary
from pytest_triton.result import Measurement
from pytest_triton.tolerance import DEFAULT_TOLERANCES, Tolerances
from pytest_triton.verdict import MachineLoad, compare

SCENARIOS = ("unchanged", "latency", "throughput")


@dataclass(frozen=True)
class Reference:
    measurement: Measurement
    machine: MachineLoad | None
    earlier: tuple[dict[str, object], ...] = ()


def baselines(workdir: Path) -> dict[str, Reference]:
    """'test [model]' -> the baseline the benchmark recorded."""
    return {
        record_id: Reference(record.measurement, machine_from(record.machine))
        for record_id, record in stored_records(workdir)
    }


def runs(workdir: Path, scenario: str) -> list[dict[str, CheckpointRecord]]:
    """The complete records of each run of a scenario, in run order."""
    out = []
    for directory in sorted((workdir / "checkpoints").glob(f"{scenario}-*")):
        files = sorted(directory.glob("*.ckpt"), key=lambda p: int(p.stem))
        if files:
            records = read_checkpoint(files[-1])
            out.append({k: r for k, r in records.items() if r.complete})
    return out


def score(
    references: dict[str, Reference],
    scenario_runs: Sequence[dict[str, CheckpointRecord]],
    tolerances: Tolerances,
) -> tuple[int, dict[str, int]]:
    """(runs in which some test regressed, per test: runs in which it regressed)."""
    per_test = {test: 0 for test in references}
    any_regressed = 0
    for records in scenario_runs:
        flagged = False
        for test, ref in references.items():
            record = records.get(test)
            if record is None:
                continue
            verdict = compare(
                ref.measurement,
                record.measurement,
                tolerances,
                baseline_load=ref.machine,
                current_load=machine_from(record.machine),
                earlier_sessions=ref.earlier,
            )
            if verdict.regressed:
                per_test[test] += 1
                flagged = True
        any_regressed += flagged
    return any_regressed, per_test


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path, help="a baseline_trust.py --workdir")
    parser.add_argument("--run-noise", default="0,0.01,0.02,0.03", help="values to try")
    parser.add_argument("--tolerance", default="0.05", help="p50 and throughput tolerances to try")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--sessions", default="1", help="baseline sessions to replay (K)")
    args = parser.parse_args(argv)
    recorded = baselines(args.workdir)
    all_runs = {s: runs(args.workdir, s) for s in SCENARIOS}
    print(f"{args.workdir}: " + ", ".join(f"{len(r)} {s}" for s, r in all_runs.items()))
    names = {test: test.split("::")[-1] for test in recorded}
    for sessions in (int(k) for k in args.sessions.split(",")):
        extra = all_runs["unchanged"][: sessions - 1]
        references = {
            test: Reference(
                ref.measurement,
                ref.machine,
                tuple(summary(run[test].measurement, "") for run in extra if test in run),
            )
            for test, ref in recorded.items()
        }
        by_scenario = {**all_runs, "unchanged": all_runs["unchanged"][sessions - 1 :]}
        _replay(args, references, by_scenario, names, sessions)
    return 0


def _replay(
    args: argparse.Namespace,
    references: dict[str, Reference],
    by_scenario: dict[str, list[dict[str, CheckpointRecord]]],
    names: dict[str, str],
    sessions: int,
) -> None:
    for tolerance in _floats(args.tolerance):
        for noise in _floats(args.run_noise):
            values = {**DEFAULT_TOLERANCES, "p50": tolerance, "throughput": tolerance}
            settings = Tolerances(values, confidence=args.confidence, run_noise=noise)
            head = f"{sessions} baseline session(s), tolerance {tolerance:.0%}"
            print(f"\n{head}, run noise {noise:.1%}:")
            for scenario, scenario_runs in by_scenario.items():
                if not scenario_runs:
                    continue
                flagged, per_test = score(references, scenario_runs, settings)
                n = len(scenario_runs)
                detail = ", ".join(f"{names[t]} {c}/{n}" for t, c in sorted(per_test.items()))
                label = "false alarms" if scenario == "unchanged" else "detected"
                print(f"  {scenario:<10} {label} in {flagged}/{n} runs; per test: {detail}")


if __name__ == "__main__":
    sys.exit(main())
