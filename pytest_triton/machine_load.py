"""How much CPU other processes took from this machine while we measured.

On a shared runner the biggest source of "regressions" is not the build but a neighbour: a
compile job or another test session on the same cores slows the server and the load generator
alike. A verdict cannot tell that apart from a slower model by latency alone, so we measure the
neighbours: CPU time the whole machine spent busy (/proc/stat) minus the CPU time of our own
process tree (pytest, its load workers, a local tritonserver and its python stubs), per second
of wall time, in CPUs. 0.0 means nobody else ran; 1.5 on a 2-CPU machine means we had a quarter.

Linux only; elsewhere (or without /proc) the snapshot is None and nothing is claimed.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PROC = Path("/proc")


@dataclass(frozen=True)
class CpuSnapshot:
    wall_s: float
    busy_ticks: int  # whole machine, all CPUs
    own_ticks: int  # our process tree, reaped children included


def _busy_ticks(proc: Path) -> int:
    # cpu  user nice system idle iowait irq softirq steal guest guest_nice
    fields = (proc / "stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields[:8]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return user + nice + system + irq + softirq + steal


def _process_table(proc: Path) -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, utime+stime+cutime+cstime) for every process we can read."""
    table: dict[int, tuple[int, int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        # The command name may hold spaces and parentheses: split after its last ')'.
        rest = text[text.rindex(")") + 2 :].split()
        ppid = int(rest[1])
        ticks = int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])
        table[int(entry.name)] = (ppid, ticks)
    return table


def _tree_ticks(table: dict[int, tuple[int, int]], root: int) -> int:
    """CPU ticks of `root` and all its descendants. Counting each process's reaped children
    (cutime/cstime) too keeps the sum continuous when a worker exits and is waited for."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, stack, seen = 0, [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen or pid not in table:
            continue
        seen.add(pid)
        total += table[pid][1]
        stack.extend(children.get(pid, ()))
    return total


def snapshot(root_pid: int | None = None, proc: Path = _PROC) -> CpuSnapshot | None:
    try:
        busy = _busy_ticks(proc)
        own = _tree_ticks(_process_table(proc), root_pid or os.getpid())
    except (OSError, ValueError, IndexError):
        return None
    return CpuSnapshot(time.monotonic(), busy, own)


def foreign_cpus(before: CpuSnapshot, after: CpuSnapshot) -> float | None:
    """CPUs' worth of work done by other processes between two snapshots."""
    wall = after.wall_s - before.wall_s
    if wall <= 0.05:
        return None
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    foreign = (after.busy_ticks - before.busy_ticks) - (after.own_ticks - before.own_ticks)
    return max(0.0, foreign / hz / wall)


def machine_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _probe_once_ms(matrix: Any) -> float:
    """One run of a fixed ~1.5 ms workload (a pure-Python loop and elementwise numpy, like the
    python backend's work), in CPU time of this thread. No BLAS: it would spread the work over
    threads this clock does not see."""
    import numpy as np

    start = time.thread_time()
    acc = 0
    for i in range(30_000):
        acc += i * i % 7
    h = matrix
    for _ in range(40):
        h = np.tanh(h * 0.5 + 0.1)
    return (time.thread_time() - start) * 1000.0


class CpuSpeedSampler:
    """How fast a CPU is for us while a step runs: the fixed workload above, every `interval_s`
    in a background thread, averaged per step (`take`).

    Neighbours outside this machine (another VM on the host, a busy SMT sibling, a lower
    clock) make every instruction slower without showing up in /proc/stat; a fixed workload
    that needs more CPU time than while the baseline was measured reveals them.

    * CPU time, not wall time: our own server, stubs and load workers taking turns on the cores
      must not count (a wall-clock probe read +16..+36% between steps on a quiet machine).
    * Sampled all through the step, not once around it: on the shared 2-core development VM one
      run of the workload took 1.4 or 2.5 ms from one second to the next and from one CPU to
      the other (the host's other tenants), so two snapshots around a step were a coin toss
      that excused real regressions; the step's mean over dozens of samples is what slowed
      the model.

    The cost is one ~1.5 ms run per interval on one core (1.5% of a CPU at the default).
    """

    def __init__(self, interval_s: float = 0.1) -> None:
        self._interval_s = interval_s
        self._samples: list[float] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="pytest-triton-cpu-speed", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        import numpy as np  # lazily: only sessions that measure pay for it

        matrix = np.random.default_rng(0).standard_normal((128, 128)).astype(np.float32)
        _probe_once_ms(matrix)  # untimed: caches and a dozing core up to speed
        while not self._stop.wait(self._interval_s):
            sample = _probe_once_ms(matrix)
            with self._lock:
                self._samples.append(sample)

    def take(self) -> float | None:
        """Mean workload time (ms) since the previous take; None without samples."""
        with self._lock:
            samples, self._samples = self._samples, []
        return sum(samples) / len(samples) if samples else None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
