"""Judge paired comparisons again from their logs, under other `--triton-paired-noise` values.

A paired verdict (`--triton-baseline-build`) bounds each row's change with its block pairs
(pytest_triton.judge.change.paired_change), and every row that moved prints both: its change in the
table and its pairs in a `pairs:` line. So pytest output kept with `-rP` (the logs of
`benchmarks/baseline_trust.py --paired --pytest-arg=-rP`, or any paired session's) can be judged
again under another paired noise in seconds, without a server. Rows that did not move print no
pairs; a wider interval could only make them inconclusive, never a regression, so the count of
regressions is complete. The 3 % default was chosen this way (docs/validation.md, "Paired
copies"); settings picked on the runs they are scored on flatter themselves.

Per noise it prints the sessions and tests that regressed, each test's count, and the range of
a test's margin: how far the interval's near end of its worst row lay beyond the tolerance
(negative: short of it). The highest is how near an unchanged run came to crying wolf, the
lowest how far an injected change missed or cleared the line. `--tolerance`
replays every row under another tolerance instead of the one its table printed.

    python benchmarks/paired_replay.py --noise 0.01,0.02,0.03 'WORKDIR/logs/unchanged-*.txt'
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pytest_triton.judge.change import paired_change
from pytest_triton.judge.rows import Outcome, badness, judge
from pytest_triton.judge.tolerance import METRICS, Direction

TEST = re.compile(r"^_{3,} (test_\w+) _{3,}$")
# 'c1 p50  2.50 ms  2.81 ms  +12.4% [+1.5%, +24.4%]  +5%  inconclusive (...)'
ROW = re.compile(
    r"^(c\d+ (p50|p90|p95|p99|avg|throughput))\s.*?([+-][\d.]+)% \[[^\]]*\]\s+([+-][\d.]+)%\s"
)
PAIRS = re.compile(r"^pairs: (c\d+ \w+): (.*) \(\d+ pairs in time order\)$")


@dataclass(frozen=True)
class MovedRow:
    test: str
    name: str  # 'c1 p50'
    ratio: float  # current / baseline, as the table printed it
    tolerance: float  # positive fraction
    direction: Direction
    pair_ratios: tuple[float, ...]


def moved_rows(path: str) -> Iterator[MovedRow]:
    """The rows of one log that printed their pairs, test by test."""
    test = ""
    table: dict[str, tuple[float, float, Direction]] = {}
    with open(path, encoding="utf-8", errors="replace") as log:
        for line in log:
            line = line.rstrip("\n")
            if match := TEST.match(line.strip()):
                test, table = match.group(1), {}
            elif match := ROW.match(line):
                name, metric, change, tolerance = match.groups()
                table[name] = (
                    1.0 + float(change) / 100.0,
                    abs(float(tolerance)) / 100.0,
                    METRICS[metric].direction,
                )
            elif (match := PAIRS.match(line)) and match.group(1) in table:
                ratio, tolerance, direction = table[match.group(1)]
                pairs = tuple(1.0 + float(p.rstrip("%")) / 100.0 for p in match.group(2).split())
                yield MovedRow(test, match.group(1), ratio, tolerance, direction, pairs)


@dataclass(frozen=True)
class Judged:
    regressed: bool
    # How far the interval's end nearest the worse side lies beyond the tolerance, as a
    # fraction: positive is a regression by that much, negative the distance still to go.
    margin: float


def judged(row: MovedRow, noise: float, confidence: float) -> Judged | None:
    """The row's verdict under another paired noise; None when it cannot be bounded."""
    change = paired_change(1.0, row.ratio, row.pair_ratios, confidence, noise)
    if change is None:
        return None
    outcome = judge(change, row.direction, row.tolerance)
    worse_low, _ = badness(change, row.direction)
    return Judged(outcome is Outcome.REGRESSION, worse_low - row.tolerance)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", help="glob patterns of -rP logs, one group each")
    parser.add_argument("--noise", default="0.01,0.02,0.03", help="paired noises to replay")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument(
        "--tolerance", type=float, help="judge every row under this tolerance (0.04 = 4 %%)"
    )
    args = parser.parse_args(argv)
    noises = [float(n) for n in args.noise.split(",")]
    for pattern in args.logs:
        files = sorted(glob.glob(pattern))
        rows = {f: list(moved_rows(f)) for f in files}
        if args.tolerance is not None:
            rows = {
                f: [dataclasses.replace(r, tolerance=args.tolerance) for r in rs]
                for f, rs in rows.items()
            }
        tests = sum(len({r.test for r in rs}) for rs in rows.values())
        print(f"{pattern}: {len(files)} sessions, {tests} tests with a moved row")
        for noise in noises:
            verdicts = {
                f: [(r, v) for r in rs if (v := judged(r, noise, args.confidence)) is not None]
                for f, rs in rows.items()
            }
            flagged = [{r.test for r, v in vs if v.regressed} for vs in verdicts.values()]
            sessions = sum(1 for f in flagged if f)
            print(
                f"  paired noise {noise:.0%}: sessions with a regression {sessions}/{len(files)}, "
                f"tests regressed {sum(len(f) for f in flagged)}"
            )
            per_test = Counter(t for f in flagged for t in f)
            for test, count in sorted(per_test.items()):
                print(f"    {count}/{len(files)} {test}")
            # A test fails on its worst row: its margin is the largest of its rows'.
            worst: dict[tuple[str, str], float] = {}
            for f, vs in verdicts.items():
                for r, v in vs:
                    worst[f, r.test] = max(v.margin, worst.get((f, r.test), -math.inf))
            if worst:
                print(
                    f"    a test's worst row beyond the tolerance: from {min(worst.values()):+.1%}"
                    f" to {max(worst.values()):+.1%} ({len(worst)} session tests with a moved row)"
                )


if __name__ == "__main__":
    main()
