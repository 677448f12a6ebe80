"""How far can the baseline gate be trusted on this machine? False alarms and detection rates.

Records a baseline of the example suite against the real local Triton, then runs the suite again
and again in compare mode, each run a fresh pytest session with a fresh server (as CI would):

* unchanged:   the same build N times: every REGRESSED verdict is a false alarm (target: 0/N);
* latency:     each model slowed by a sleep of CHANGE x its per-request service time, i.e. +15%
               latency where the model is least loaded (target: detected in >= 19 of 20 runs);
* throughput:  the sleep that takes 15% off a saturated instance's throughput (x 1/(1-0.15)).

A run "detects" a change when every test of the suite fails with a baseline regression; the
per-test rates are printed too, with the change the injection really achieved (measured from
the runs' checkpoints against the baseline), so a rate is never read without its effect size.

    python benchmarks/baseline_trust.py --runs 20          # about an hour on 2 cores
    python benchmarks/baseline_trust.py --runs 2 --scenarios unchanged   # a smoke run
    python benchmarks/baseline_trust.py --runs 20 --record-sessions 3    # a 3-session baseline
    python benchmarks/baseline_trust.py --runs 20 --paired   # against the baseline build, paired
    python benchmarks/baseline_trust.py --runs 20 --calibrate 3   # with the runner's noise measured
    python benchmarks/baseline_trust.py --runs 20 --record-sessions 3 --calibrate 3 \
        --calibrate-each-round --change auto   # calibration spread over the hour; injected
                                               # changes sized from the stated resolution
    python benchmarks/baseline_trust.py --runs 20 --paired --change auto   # paired, sized alike
    python benchmarks/baseline_trust.py --summarise WORKDIR_1 WORKDIR_2   # one summary of the
                                               # runs of one command split over sessions

With --paired every run compares with the baseline build measured in turn on the same server
(--triton-baseline-build) instead of the stored baseline, and the changes are code changes: each
scenario's models are a copy of the example suite's whose model.py has its sleep written in
(the baseline build's: the base sleep), as a pull request would change them.

Results go to <workdir>/results.json; the summary is printed for the docs (docs/validation.md).
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pytest_triton.baseline.checkpoint import read_checkpoint
from pytest_triton.baseline.store import BaselineRecord, BaselineStore
from pytest_triton.judge.change import relative_change
from pytest_triton.observe import machine_load
from pytest_triton.plugin.server_factory import env_assignments
from pytest_triton.result import Measurement, metric_value

REPO = Path(__file__).resolve().parent.parent
SUITE = REPO / "example_suite"
# The baseline plugin's session summary: "FAIL t.py::test_x [tiny] REGRESSED: ...", and when
# paired "... [tiny] REGRESSED with the baseline build: ..."; group 4 is the status alone.
SUMMARY = re.compile(
    r"^(FAIL|ok  ) (\S+) \[([^\]]+)\] ([^:]+?)(?: with the baseline build)?: (.*)$"
)


def suite_env() -> dict[str, str]:
    """The example suite's own `triton_env` (its pytest.ini). A --triton-env on the command line
    replaces the ini's list, so a run that adds one passes these again."""
    ini = configparser.ConfigParser()
    ini.read(SUITE / "pytest.ini")
    # One NAME=VALUE a line, as pytest reads a linelist ini value (a value may hold spaces).
    lines = ini.get("pytest", "triton_env", fallback="").splitlines()
    return env_assignments(tuple(line.strip() for line in lines if line.strip()))


@dataclass
class RunResult:
    scenario: str
    index: int
    returncode: int
    seconds: float
    load_before: float = 0.0  # 1-minute load average: other tenants of the machine
    load_after: float = 0.0
    statuses: dict[str, str] = field(default_factory=dict)  # "test [model]" -> status
    guarded: list[str] = field(default_factory=list)  # regressions not trusted: machine busier
    changes: dict[str, dict[str, float]] = field(default_factory=dict)  # achieved, in %
    improved: list[str] = field(default_factory=list)  # tests with a row called improved
    sees: dict[str, float] = field(default_factory=dict)  # "test [model]" -> stated resolution %

    @property
    def regressed(self) -> list[str]:
        return [k for k, v in self.statuses.items() if v == "REGRESSED"]


def pytest_command(
    args: argparse.Namespace,
    workdir: Path,
    mode: str,
    env: dict[str, str],
    checkpoints: Path,
    build: Path | None = None,
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "pytest",
        *args.tests,
        "-p",
        "no:cacheprovider",
        "-q",
        f"--triton-baseline={mode}",
        f"--triton-baseline-dir={workdir / 'baselines'}",
        f"--triton-checkpoint-dir={checkpoints}",
        f"--triton-baseline-sessions={args.record_sessions}",
        f"--triton-calibration-dir={workdir / 'calibration'}",
    ]
    if env:
        for name, value in sorted({**suite_env(), **env}.items()):
            command += ["--triton-env", f"{name}={value}"]
    if build is not None:  # paired: this build's models against the baseline build's
        command += [
            "-o",
            f"triton_model_repository={build}",
            f"--triton-baseline-build={workdir / 'builds' / 'baseline'}",
        ]
    return command + list(args.pytest_arg)


def write_build(target: Path, extra_ms: dict[str, float]) -> Path:
    """A copy of the example models whose model.py has its sleep written in: a code change
    (what the gate judges), not a knob both builds would read from the server's environment."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(
        SUITE / "model_repository", target, ignore=shutil.ignore_patterns("__pycache__")
    )
    for model, ms in extra_ms.items():
        path = target / model / "1" / "model.py"
        code, count = re.subn(
            r"^EXTRA_S = .*$", f"EXTRA_S = {ms:.3f} / 1000.0", path.read_text(), flags=re.M
        )
        if count != 1:
            raise SystemExit(f"{path}: no 'EXTRA_S = ...' line to write the sleep into")
        path.write_text(code)
    return target


def run_suite(
    args: argparse.Namespace,
    workdir: Path,
    scenario: str,
    index: int,
    mode: str,
    env: dict[str, str],
    build: Path | None = None,
) -> tuple[RunResult, str]:
    checkpoints = workdir / "checkpoints" / f"{scenario}-{index:02d}"
    command = pytest_command(args, workdir, mode, env, checkpoints, build)
    start = time.monotonic()
    load_before = os.getloadavg()[0]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    result = RunResult(
        scenario, index, proc.returncode, time.monotonic() - start, load_before, os.getloadavg()[0]
    )
    result.statuses, result.guarded = read_summary(proc.stdout)
    result.improved, result.sees = read_resolution(proc.stdout)
    log = workdir / "logs" / f"{scenario}-{index:02d}.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(" ".join(command) + "\n\n" + proc.stdout + proc.stderr)
    return result, proc.stdout


def read_summary(stdout: str) -> tuple[dict[str, str], list[str]]:
    """Each gated test's status from the session summary ("test [model]" -> "REGRESSED"),
    and the regressions the machine-busier guard did not trust."""
    statuses: dict[str, str] = {}
    guarded: list[str] = []
    for line in stdout.splitlines():
        m = SUMMARY.match(line)
        if m:
            statuses[f"{m.group(2)} [{m.group(3)}]"] = m.group(4)
            if "not trusted (machine busier)" in m.group(5):
                guarded.append(f"{m.group(2)} [{m.group(3)}]")
    return statuses, guarded


RESOLUTION = re.compile(r"; sees (\d+)% \(([^)]+)\)")


def read_resolution(stdout: str) -> tuple[list[str], dict[str, float]]:
    """From the session summary: the tests a row of which was called improved, and each
    test's stated resolution ("sees 11% (c4 p50)": the smallest change it could call)."""
    improved: list[str] = []
    sees: dict[str, float] = {}
    for line in stdout.splitlines():
        m = SUMMARY.match(line)
        if not m:
            continue
        test = f"{m.group(2)} [{m.group(3)}]"
        if "improvement(s):" in m.group(5):
            improved.append(test)
        seen = RESOLUTION.search(m.group(5))
        if seen:
            sees[test] = float(seen.group(1))
    return improved, sees


def wait_for_quiet(max_cpus: float, max_wait_s: float) -> float:
    """Wait until other processes use less than `max_cpus` (sampled over 5 s); returns the
    last sample. Only the baseline recording waits: a reference measured while a neighbour
    compiles makes every later run look faster and hides real slowdowns."""
    deadline = time.monotonic() + max_wait_s
    while True:
        before = machine_load.snapshot()
        time.sleep(5.0)
        after = machine_load.snapshot()
        foreign = machine_load.foreign_cpus(before, after) if before and after else 0.0
        if foreign is None or foreign < max_cpus or time.monotonic() > deadline:
            return foreign or 0.0
        print(f"  waiting for a quieter machine: neighbours use {foreign:.2f} CPUs", flush=True)


def stored_records(workdir: Path) -> list[tuple[str, BaselineRecord]]:
    """('test [model]', record) for every baseline the benchmark recorded; an unreadable file
    ends the benchmark (every figure after it would be about nothing)."""
    store = BaselineStore(workdir / "baselines")
    out: list[tuple[str, BaselineRecord]] = []
    for stored in store.scan():
        file = store.read(stored.test_id) if stored.test_id else None
        if file is None:
            raise SystemExit(f"unreadable baseline: {stored.error}")
        for entry in file.environments.values():
            out += [(f"{stored.test_id} [{key}]", r) for key, r in entry.records.items()]
    return out


def busy_steps(workdir: Path, max_cpus: float) -> list[str]:
    """Baseline steps measured while neighbours used more than `max_cpus` (the plugin warns
    about them: such a reference hides slowdowns and invents speedups)."""
    busy: list[str] = []
    for record_id, record in stored_records(workdir):
        foreign = record.machine.get("foreign_cpus") or {}
        busy += [f"{record_id} {p}" for p, f in foreign.items() if f > max_cpus]
    return busy


def session_counts(workdir: Path) -> str:
    """How many sessions each recorded baseline averages (an update that moved beyond
    tolerance against the earlier ones starts over)."""
    return ", ".join(str(len(r.sessions) + 1) for _, r in stored_records(workdir))


def baseline_measurements(workdir: Path) -> dict[str, tuple[Measurement, int]]:
    """'test [model]' -> (baseline measurement, instance count) from the recorded files."""
    out: dict[str, tuple[Measurement, int]] = {}
    for record_id, record in stored_records(workdir):
        groups = record.subject.config.get("instance_group") or [{"count": 1}]
        instances = sum(int(g.get("count", 1)) for g in groups)
        out[record_id] = (record.measurement, instances)
    return out


def service_ms(measurement: Measurement, instances: int) -> float:
    """Per-request time of one busy instance: avg latency x min(c, instances) / c, the largest
    over the steps (at c1 it is the whole latency; at saturation it is 1 / throughput)."""
    values = []
    for s in measurement.steps:
        c = s.concurrency or 1
        values.append(s.avg_ms * min(c, instances) / c)
    return max(values)


def injections(
    baselines: dict[str, tuple[Measurement, int]], base_ms: float, change: dict[str, float]
) -> dict[str, dict[str, str]]:
    """Per scenario, the EXAMPLE_EXTRA_MS_<MODEL> values that make each model's change
    (model -> relative change)."""
    per_model: dict[str, float] = {}
    for measurement, instances in baselines.values():
        t = service_ms(measurement, instances)
        per_model[measurement.model] = max(per_model.get(measurement.model, 0.0), t)
    latency = {
        f"EXAMPLE_EXTRA_MS_{m.upper()}": f"{base_ms + change[m] * t:.3f}"
        for m, t in per_model.items()
    }
    throughput = {
        f"EXAMPLE_EXTRA_MS_{m.upper()}": f"{base_ms + (1.0 / (1.0 - change[m]) - 1.0) * t:.3f}"
        for m, t in per_model.items()
    }
    return {"unchanged": {}, "latency": latency, "throughput": throughput}


# `--change auto` injects this many times a test's stated resolution: a little over the twice of
# the target, because each run states its own resolution and most runs must move at least twice
# theirs for the detection rate to be about changes of that size.
AUTO_FACTOR = 2.5
# The largest change it injects: a throughput drop of 1 - 1/(1 + sleep) needs an ever longer
# sleep as it nears 100 %.
MAX_AUTO_CHANGE = 0.8


def sized_changes(
    args: argparse.Namespace,
    workdir: Path,
    base_env: dict[str, str],
    baselines: dict[str, tuple[Measurement, int]],
    unchanged: Path | None,
) -> dict[str, float]:
    """Per model, the change to inject. With --change auto: AUTO_FACTOR times the resolution an
    unchanged run states for the model's coarsest test (the detection target is about changes
    of twice it), read from one unchanged compare run made for the purpose and not counted
    (paired: the `unchanged` build against the baseline build)."""
    models = {m.model for m, _ in baselines.values()}
    if args.change != "auto":
        return dict.fromkeys(models, float(args.change))
    env = {} if unchanged is not None else base_env
    result, _ = run_suite(args, workdir, "sizing", 0, "compare", env, unchanged)
    sized: dict[str, float] = {}
    for record_id, (measurement, _) in baselines.items():
        seen = result.sees.get(record_id)
        if seen is None:
            raise SystemExit(f"the sizing run stated no resolution for {record_id}; see logs/")
        change = min(AUTO_FACTOR * seen / 100.0, MAX_AUTO_CHANGE)
        sized[measurement.model] = max(sized.get(measurement.model, 0.0), change)
    print(
        "sizing run: stated resolution "
        + ", ".join(f"{k} {v:.0f}%" for k, v in sorted(result.sees.items())),
        flush=True,
    )
    return sized


def achieved(
    baselines: dict[str, tuple[Measurement, int]], checkpoints: Path
) -> dict[str, dict[str, float]]:
    """The change each run really had: p50 at the least loaded step, throughput at the best."""
    files = sorted(checkpoints.glob("*.ckpt"))
    if not files:
        return {}
    out: dict[str, dict[str, float]] = {}
    for record_id, record in read_checkpoint(files[-1]).items():
        base = baselines.get(record_id)
        if base is None or not record.complete:
            continue
        old, new = base[0], record.measurement
        first = old.steps[0].load_point
        new_first = new.step(first)
        if new_first is None:
            continue
        out[record_id] = {
            "p50_pct": (new_first.p50_ms / old.steps[0].p50_ms - 1.0) * 100.0,
            "throughput_pct": (new.best.throughput / old.best.throughput - 1.0) * 100.0,
        }
    return out


def run_spread(
    baselines: dict[str, tuple[Measurement, int]], workdir: Path, runs: Sequence[RunResult]
) -> list[str]:
    """What the run_noise default rests on: per gated row, how far unchanged runs moved from
    the baseline (the mean is the baseline session's own offset, the SD the run-to-run spread)
    against the half-width of the interval their windows alone give."""
    rows: dict[str, list[tuple[float, float]]] = {}
    for run in runs:
        files = sorted((workdir / "checkpoints" / f"{run.scenario}-{run.index:02d}").glob("*.ckpt"))
        records = read_checkpoint(files[-1]) if files else {}
        for record_id, record in records.items():
            if record_id not in baselines or not record.complete:
                continue
            old = baselines[record_id][0]
            for cur in (s for s in record.measurement.steps if not s.probe):
                base = old.step(cur.load_point)
                if base is None:
                    continue
                for metric in ("throughput", "p50"):
                    change = relative_change(
                        metric_value(base, metric),
                        metric_value(cur, metric),
                        [metric_value(w, metric) for w in base.measured],
                        [metric_value(w, metric) for w in cur.measured],
                    )
                    if change is not None:
                        half = (change.high_pct - change.low_pct) / 2.0
                        rows.setdefault(f"{record_id} {cur.load_point} {metric}", []).append(
                            (change.pct, half)
                        )
    lines = ["unchanged runs against the baseline, per gated row (windows-only intervals):"]
    for name, values in sorted(rows.items()):
        pcts = [v[0] for v in values]
        sd = statistics.stdev(pcts) if len(pcts) > 1 else float("nan")
        lines.append(
            f"    {name}: mean {statistics.fmean(pcts):+.1f}%, run-to-run SD {sd:.1f}%, "
            f"windows' half-width {statistics.median(v[1] for v in values):.1f}% (median)"
        )
    return lines


def summarise_workdirs(workdirs: Sequence[Path]) -> list[str]:
    """summarise() over the runs of several workdirs, each with its command."""
    results: list[RunResult] = []
    lines: list[str] = []
    for workdir in workdirs:
        saved = json.loads((workdir / "results.json").read_text())
        lines.append(f"{workdir}: {saved['command']}")
        results += [RunResult(**run) for run in saved["runs"]]
    tests = sorted({t for r in results for t in r.statuses})
    return lines + summarise(results, tests)


def summarise(results: Sequence[RunResult], tests: Sequence[str]) -> list[str]:
    lines: list[str] = []
    for scenario in ("unchanged", "latency", "throughput"):
        runs = [r for r in results if r.scenario == scenario]
        if not runs:
            continue
        any_regressed = sum(bool(r.regressed) for r in runs)
        all_regressed = sum(all(r.statuses.get(t) == "REGRESSED" for t in tests) for r in runs)
        other_failures = sum(r.returncode not in (0, 1) for r in runs)
        if scenario == "unchanged":
            lines.append(
                f"unchanged:  false regressions in {any_regressed}/{len(runs)} runs "
                f"({sum(len(r.regressed) for r in runs)} of "
                f"{len(runs) * len(tests)} test verdicts)"
            )
            lines.append(
                f"            false improvements in {sum(bool(r.improved) for r in runs)}/"
                f"{len(runs)} runs ({sum(len(r.improved) for r in runs)} test verdicts)"
            )
        else:
            lines.append(
                f"{scenario + ':':<11} detected in {all_regressed}/{len(runs)} runs "
                f"(every test flagged); in {any_regressed}/{len(runs)} some test was"
            )
        guarded = sum(bool(r.guarded) for r in runs)
        if guarded:
            lines.append(
                f"    {guarded}/{len(runs)} runs had a regression not trusted because "
                "neighbours took more CPU than during the baseline (contention guard)"
            )
        for t in tests:
            flagged = sum(r.statuses.get(t) == "REGRESSED" for r in runs)
            p50 = [r.changes[t]["p50_pct"] for r in runs if t in r.changes]
            thr = [r.changes[t]["throughput_pct"] for r in runs if t in r.changes]
            effect = ""
            if p50:
                effect = (
                    f"  achieved: p50 {statistics.median(p50):+.1f}%, throughput "
                    f"{statistics.median(thr):+.1f}% (medians)"
                )
            seen = [r.sees[t] for r in runs if t in r.sees]
            if seen:
                effect += f"  stated resolution: {statistics.median(seen):.0f}% (median)"
            lines.append(f"    {flagged:>2}/{len(runs)} {t}{effect}")
            if scenario != "unchanged":
                key = "p50_pct" if scenario == "latency" else "throughput_pct"
                big = [
                    r
                    for r in runs
                    if t in r.sees and t in r.changes and abs(r.changes[t][key]) >= 2 * r.sees[t]
                ]
                caught = sum(r.statuses.get(t) == "REGRESSED" for r in big)
                lines.append(
                    f"          {len(big)} run(s) moved at least twice the stated resolution; "
                    f"{caught} of them detected"
                )
        if other_failures:
            lines.append(f"    ({other_failures} run(s) ended with an error, see logs/)")
    return lines


def calibrate_session(
    args: argparse.Namespace, workdir: Path, base_env: dict[str, str], session: int
) -> None:
    """One --triton-calibrate session of the unchanged suite: identical copies of each model
    measured in turn, their noise kept in <workdir>/calibration."""
    checkpoints = workdir / "checkpoints" / f"calibrate-{session:02d}"
    command = [
        *pytest_command(args, workdir, "compare", base_env, checkpoints),
        "--triton-calibrate",
    ]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    log = workdir / "logs" / f"calibrate-{session:02d}.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(" ".join(command) + "\n\n" + proc.stdout + proc.stderr)
    print(f"calibration session {session}: exit {proc.returncode}", flush=True)


def record_session(
    args: argparse.Namespace, workdir: Path, base_env: dict[str, str], session: int
) -> None:
    """One `update` of the baseline, retried until every test has one measured on a quiet
    machine. A retry starts from the files as they were before this session, so a busy
    attempt never stays behind as an earlier session of the baseline."""
    files = workdir / "baselines"
    before = workdir / f"baselines-before-{session}"
    if files.exists():
        shutil.copytree(files, before, dirs_exist_ok=True)
    missing: list[str] = []
    busy: list[str] = []
    stdout = ""
    for attempt in range(1, args.record_attempts + 1):
        if attempt > 1:
            shutil.rmtree(files, ignore_errors=True)
            if before.exists():
                shutil.copytree(before, files)
        quiet = wait_for_quiet(args.quiet_cpus, args.quiet_wait)
        print(f"recording session {session} with neighbours at {quiet:.2f} CPUs", flush=True)
        index = session * 10 + attempt
        record, stdout = run_suite(args, workdir, "record", index, "update", base_env)
        have = baseline_measurements(workdir) if files.exists() else {}
        missing = [k for k in record.statuses if k not in have] if record.statuses else ["all"]
        busy = busy_steps(workdir, args.quiet_cpus)
        print(
            f"record {session}.{attempt}: exit {record.returncode}, {record.seconds:.0f}s, not "
            f"recorded: {', '.join(missing) or 'none'}; measured on a busy machine: "
            f"{', '.join(busy) or 'none'}",
            flush=True,
        )
        if not missing and not busy:
            break
    shutil.rmtree(before, ignore_errors=True)
    if missing:
        print(stdout[-4000:])
        raise SystemExit("could not record a baseline of every test; see logs/record-*.txt")
    if busy:
        print("WARNING: going on with baselines measured on a busy machine", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--change",
        default="0.15",
        help="relative change injected, or 'auto': 2.5 times the resolution an unchanged run "
        "states, per model",
    )
    parser.add_argument(
        "--base-extra-ms",
        type=float,
        default=2.0,
        help="sleep every model has in every run, so the injected extra sleep "
        "is not distorted by the timer slack of very short sleeps",
    )
    parser.add_argument("--scenarios", default="unchanged,latency,throughput")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--tests",
        action="append",
        default=None,
        help="test path to run (repeatable; default: the whole example suite)",
    )
    parser.add_argument(
        "--quiet-cpus",
        type=float,
        default=0.5,
        help="record the baseline once other processes use fewer CPUs than this",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=1800.0,
        help="longest wait for a quiet machine before recording anyway (s)",
    )
    parser.add_argument(
        "--record-sessions",
        type=int,
        default=1,
        help="update runs the baseline averages (--triton-baseline-sessions), each on a quiet "
        "machine",
    )
    parser.add_argument(
        "--record-attempts",
        type=int,
        default=5,
        help="update runs until every test has a baseline (update skips a "
        "measurement that failed its SLO or did not stabilise)",
    )
    parser.add_argument(
        "--calibrate",
        type=int,
        default=0,
        help="--triton-calibrate sessions run before the baseline is recorded, so that every "
        "comparison uses the runner's measured noise (3 or more to take effect)",
    )
    parser.add_argument(
        "--calibrate-each-round",
        action="store_true",
        help="one more --triton-calibrate session at the start of every round, so the "
        "calibration spans the hour the comparisons do (as a nightly calibration job would)",
    )
    parser.add_argument(
        "--paired",
        action="store_true",
        help="compare with the baseline build measured in turn (--triton-baseline-build) "
        "instead of the stored baseline; changes are written into the models' code",
    )
    parser.add_argument(
        "--pytest-arg",
        action="append",
        default=[],
        help="extra pytest argument (repeatable), e.g. --pytest-arg=--triton-window=2",
    )
    parser.add_argument(
        "--summarise",
        nargs="+",
        type=Path,
        metavar="WORKDIR",
        help="print nothing new: one summary of the results of these earlier runs (the same "
        "command run in parts)",
    )
    args = parser.parse_args(argv)
    if args.summarise:
        print("\n".join(summarise_workdirs(args.summarise)))
        return 0
    args.tests = args.tests or [str(SUITE)]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="baseline-trust-"))
    workdir.mkdir(parents=True, exist_ok=True)
    base_env = {"EXAMPLE_EXTRA_MS": f"{args.base_extra_ms:g}"}
    print(f"workdir: {workdir}", flush=True)

    for session in range(1, args.calibrate + 1):
        calibrate_session(args, workdir, base_env, session)
    for session in range(1, args.record_sessions + 1):
        record_session(args, workdir, base_env, session)
    baselines = baseline_measurements(workdir)
    tests = sorted(baselines)
    builds: dict[str, Path] = {}
    models = [p.name for p in (SUITE / "model_repository").iterdir() if p.is_dir()]
    if args.paired:  # the baseline build, and an unchanged one to size the changes against
        base_sleeps = dict.fromkeys(models, args.base_extra_ms)
        write_build(workdir / "builds" / "baseline", base_sleeps)
        builds["unchanged"] = write_build(workdir / "builds" / "unchanged", base_sleeps)
    sizes = sized_changes(args, workdir, base_env, baselines, builds.get("unchanged"))
    plan = injections(baselines, args.base_extra_ms, sizes)
    print(f"baseline recorded for {len(tests)} measurement(s); sessions: {session_counts(workdir)}")
    for scenario, env in plan.items():
        print(f"  {scenario}: {env or base_env}")
    if args.paired:
        for scenario, env in plan.items():
            extra = {
                m: float(env.get(f"EXAMPLE_EXTRA_MS_{m.upper()}", args.base_extra_ms))
                for m in models
            }
            builds[scenario] = write_build(workdir / "builds" / scenario, extra)

    results: list[RunResult] = []
    # Round-robin, not one scenario after the other: the host's speed drifts over tens of
    # minutes (an unchanged build's sessions moved 6-7 % here), and in blocks a slow half hour
    # would land on one scenario and read as a false alarm or a detection.
    for i in range(1, args.runs + 1):
        if args.calibrate_each_round:
            calibrate_session(args, workdir, base_env, args.calibrate + i)
        for scenario in args.scenarios.split(","):
            env = {} if args.paired else {**base_env, **plan[scenario]}
            result, _ = run_suite(args, workdir, scenario, i, "compare", env, builds.get(scenario))
            result.changes = achieved(baselines, workdir / "checkpoints" / f"{scenario}-{i:02d}")
            results.append(result)
            flagged = ", ".join(result.regressed) or "none"
            guarded = f", not trusted (busier): {len(result.guarded)}" if result.guarded else ""
            print(
                f"{scenario} {i:>2}/{args.runs}: exit {result.returncode}, {result.seconds:.0f}s, "
                f"load {result.load_before:.1f}->{result.load_after:.1f}, regressed: {flagged}"
                f"{guarded}",
                flush=True,
            )
            (workdir / "results.json").write_text(
                json.dumps(
                    {
                        "command": " ".join(sys.argv),
                        "plan": plan,
                        "base_env": base_env,
                        "runs": [asdict(r) for r in results],
                    },
                    indent=2,
                )
            )

    print("\n" + "\n".join(summarise(results, tests)))
    unchanged = [r for r in results if r.scenario == "unchanged"]
    if unchanged:
        print("\n".join(run_spread(baselines, workdir, unchanged)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
