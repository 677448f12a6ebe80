"""How much CPU other processes took from this machine while we measured.

On a shared runner the biggest source of "regressions" is not the build but a neighbour: a
compile job or another test session on the same cores slows the server and the load generator
alike. A verdict cannot tell that apart from a slower model by latency alone, so we measure the
neighbours: CPU time the whole machine spent busy (/proc/stat) minus the CPU time of our own
process tree (pytest, its load workers, a local tritonserver and its python stubs), per second
of wall time, in CPUs. 0.0 means nobody else ran; 1.5 on a 2-CPU machine means we had a quarter.
Steal time (the hypervisor running other guests on our virtual CPUs) counts as busy: it is the
trace neighbours outside a VM leave in it.

Linux only; elsewhere (or without /proc) the snapshot is None and nothing is claimed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

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
