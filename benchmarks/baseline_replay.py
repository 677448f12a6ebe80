"""Judge the runs of a baseline_trust benchmark again, offline, under other gate settings.

`benchmarks/baseline_trust.py` leaves every run's complete measurements in its checkpoints. A
verdict is a pure function of baseline, current run and settings, so the same measurements can
be judged again with another run-to-run noise, tolerance or confidence in seconds, without a
server: which settings would have cried wolf on the unchanged runs, and which would have caught
the injected slowdowns. This is how the defaults were chosen (docs/validation.md); settings picked
on the same runs they are scored on flatter themselves, so read it as a trade-off curve, not as
a second measurement.

    python benchmarks/baseline_replay.py WORKDIR --run-noise 0,0.01,0.02,0.03 --tolerance 0.05
    python benchmarks/baseline_replay.py WORKDIR --sessions 1,3,5
    python benchmarks/baseline_replay.py WORKDIR --sessions 1,3 --ceiling

`--ceiling` asks the data rather than the gate: per test, the worst change (p50 up or
throughput down, any step) an unchanged run showed, and how many injected runs moved further
than that. No gate that thresholds those changes can detect more without a false alarm on these
runs; when the ceiling is below 19 of 20, no tolerance or run-noise setting will reach it.

`--sessions K` replays a baseline of K sessions, as more `update` runs would have kept: the
recorded baseline with the sessions it kept (`--record-sessions`), topped up to K with the first
unchanged runs as further earlier sessions (those runs are then not scored). Sessions of an
unchanged build are interchangeable, so which runs stand in for the extra updates does not
matter, only that they are not also judged.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baseline_trust import stored_records

from pytest_triton.baseline.checkpoint import CheckpointRecord, read_checkpoint
from pytest_triton.baseline.gate import machine_from
from pytest_triton.baseline.history import summary
from pytest_triton.judge.guard import MachineLoad
from pytest_triton.judge.tolerance import DEFAULT_TOLERANCES, Tolerances
from pytest_triton.judge.verdict import compare
from pytest_triton.result import Measurement

SCENARIOS = ("unchanged", "latency", "throughput")
# The metrics the ceiling reads, and the sign that makes a slowdown positive.
SLOWER = {"p50": 1.0, "throughput": -1.0}


@dataclass(frozen=True)
class Reference:
    measurement: Measurement
    machine: MachineLoad | None
    earlier: tuple[Mapping[str, Any], ...] = ()


def baselines(workdir: Path) -> dict[str, Reference]:
    """'test [model]' -> the baseline the benchmark recorded."""
    return {
        record_id: Reference(record.measurement, machine_from(record.machine), record.sessions)
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


def ratios(ref: Reference, current: Measurement) -> dict[tuple[str, str], float]:
    """(load point, metric) -> current / baseline, as the gate computes it (against the
    geometric mean of the baseline's sessions), for every step row with a bounded change."""
    verdict = compare(ref.measurement, current, earlier_sessions=ref.earlier)
    return {(r.step, r.metric): r.change.ratio for r in verdict.rows if r.step and r.change}


def shared_drift(
    references: dict[str, Reference],
    scenario_runs: Sequence[dict[str, CheckpointRecord]],
    names: dict[str, str],
) -> None:
    """Is a run's drift shared by its tests? Per test, the SD over runs of its first step's
    p50 log-ratio to the baseline, raw and after subtracting the mean log-ratio of the *other*
    tests in the same run. A large drop means the machine moved whole runs, and tests whose
    model did not change could gauge it for the one that did."""
    print("\n  shared drift (unchanged runs, first step p50, SD of change):")
    by_run: list[dict[str, float]] = []
    for records in scenario_runs:
        run: dict[str, float] = {}
        for test, ref in references.items():
            record = records.get(test)
            if record is None or not ref.measurement.steps:
                continue
            point = ref.measurement.steps[0].load_point
            ratio = ratios(ref, record.measurement).get((point, "p50"))
            if ratio is not None:
                run[test] = math.log(ratio)
        by_run.append(run)
    for test in sorted(references):
        raw, relative = [], []
        for run in by_run:
            others = [v for t, v in run.items() if t != test]
            if test in run and others:
                raw.append(run[test])
                relative.append(run[test] - statistics.fmean(others))
        if len(raw) > 2:
            print(
                f"    {names[test]}: raw {statistics.stdev(raw) * 100:.1f}%, against the other "
                f"tests of its run {statistics.stdev(relative) * 100:.1f}% ({len(raw)} runs)"
            )


def worst_change(ref: Reference, current: Measurement) -> float | None:
    """The largest slowdown, in %, over the gated rows: p50 up or throughput down at any step
    both sides measured, against the geometric mean of the baseline's sessions."""
    changes = [
        SLOWER[metric] * (ratio - 1.0) * 100.0
        for (_, metric), ratio in ratios(ref, current).items()
        if metric in SLOWER
    ]
    return max(changes, default=None)


def ceiling(
    references: dict[str, Reference],
    by_scenario: dict[str, list[dict[str, CheckpointRecord]]],
    names: dict[str, str],
) -> None:
    """Per test: the unchanged runs' worst change, and how many injected runs exceeded it."""
    print("\n  ceiling (threshold = worst change of an unchanged run):")
    for test, ref in sorted(references.items()):

        def changes(scenario: str, test: str = test, ref: Reference = ref) -> list[float]:
            out = []
            for records in by_scenario.get(scenario, []):
                if test in records:
                    value = worst_change(ref, records[test].measurement)
                    if value is not None:
                        out.append(value)
            return out

        unchanged = changes("unchanged")
        if not unchanged:
            continue
        line = f"    {names[test]}: unchanged worst {max(unchanged):+.1f}%"
        for scenario in ("latency", "throughput"):
            moved = changes(scenario)
            if moved:
                beyond = sum(v > max(unchanged) for v in moved)
                line += (
                    f"; {scenario} beyond it {beyond}/{len(moved)} "
                    f"(median {statistics.median(moved):+.1f}%, lowest {min(moved):+.1f}%)"
                )
        print(line)


def with_sessions(
    ref: Reference, test: str, unchanged: Sequence[dict[str, CheckpointRecord]], sessions: int
) -> Reference:
    """`ref` as a baseline of `sessions` sessions: its latest stored ones, topped up with the
    first unchanged runs when it has fewer."""
    stored = ref.earlier[max(0, len(ref.earlier) - (sessions - 1)) :] if sessions > 1 else ()
    top_up = unchanged[: max(0, sessions - 1 - len(stored))]
    extra = tuple(summary(run[test].measurement, "") for run in top_up if test in run)
    return Reference(ref.measurement, ref.machine, (*stored, *extra))


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path, help="a baseline_trust.py --workdir")
    parser.add_argument("--run-noise", default="0,0.01,0.02,0.03", help="values to try")
    parser.add_argument("--tolerance", default="0.05", help="p50 and throughput tolerances to try")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--sessions", default="1", help="baseline sessions to replay (K)")
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="also print what any threshold on the measured changes could detect",
    )
    args = parser.parse_args(argv)
    recorded = baselines(args.workdir)
    all_runs = {s: runs(args.workdir, s) for s in SCENARIOS}
    print(f"{args.workdir}: " + ", ".join(f"{len(r)} {s}" for s, r in all_runs.items()))
    names = {test: test.split("::")[-1] for test in recorded}
    for sessions in (int(k) for k in args.sessions.split(",")):
        references = {
            test: with_sessions(ref, test, all_runs["unchanged"], sessions)
            for test, ref in recorded.items()
        }
        # An unchanged run that stands in for an update of some test is scored for none.
        stand_ins = max(sessions - 1 - len(ref.earlier) for ref in recorded.values())
        by_scenario = {**all_runs, "unchanged": all_runs["unchanged"][max(0, stand_ins) :]}
        _replay(args, references, by_scenario, names, sessions)
        if args.ceiling:
            ceiling(references, by_scenario, names)
            shared_drift(references, by_scenario["unchanged"], names)
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
