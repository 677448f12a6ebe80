"""Neighbours' CPU: machine busy time minus our own process tree, from a /proc we control."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_triton.observe.machine_load import CpuSnapshot, foreign_cpus, snapshot


def _proc(root: Path, busy: int, processes: dict[int, tuple[int, int]]) -> Path:
    """A fake /proc: `busy` ticks of machine time, processes pid -> (ppid, ticks)."""
    root.mkdir(exist_ok=True)
    idle = 10_000
    (root / "stat").write_text(f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 2 3\n")
    for pid, (ppid, ticks) in processes.items():
        d = root / str(pid)
        d.mkdir(exist_ok=True)
        # comm with a space and a ')' inside, as real process names can have
        fields = ["S", str(ppid)] + ["0"] * 9 + [str(ticks), "0", "0", "0"] + ["0"] * 30
        (d / "stat").write_text(f"{pid} (odd) name) " + " ".join(fields))
    return root


def test_own_tree_is_summed_and_strangers_are_foreign(tmp_path: Path) -> None:
    # 100 = us, 101 our worker, 102 the server's stub (child of 101); 200 a stranger
    before = snapshot(
        100,
        _proc(tmp_path / "a", 1000, {100: (1, 50), 101: (100, 20), 102: (101, 30), 200: (1, 400)}),
    )
    after = snapshot(
        100,
        _proc(tmp_path / "b", 1400, {100: (1, 150), 101: (100, 60), 102: (101, 90), 200: (1, 600)}),
    )
    assert before is not None and after is not None
    assert (before.own_ticks, after.own_ticks) == (100, 300)
    hz = os.sysconf("SC_CLK_TCK")
    wall = 2.0
    b = CpuSnapshot(0.0, before.busy_ticks, before.own_ticks)
    a = CpuSnapshot(wall, after.busy_ticks, after.own_ticks)
    # machine: +400 ticks, ours: +200 -> 200 ticks of others over 2 s
    assert foreign_cpus(b, a) == pytest.approx(200 / hz / wall)


def test_no_proc_means_no_claim(tmp_path: Path) -> None:
    assert snapshot(1, tmp_path / "nothing") is None


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs Linux /proc")
def test_a_busy_child_of_ours_is_not_counted_as_a_neighbour() -> None:
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        before = snapshot()
        time.sleep(1.5)
        after = snapshot()
    finally:
        child.kill()
        child.wait()
    assert before is not None and after is not None
    own = (after.own_ticks - before.own_ticks) / os.sysconf("SC_CLK_TCK") / 1.5
    assert own > 0.2  # the child's spinning is ours (it got at least some of a CPU)
