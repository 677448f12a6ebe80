"""Python backend regions named after their owner: the next session removes only the regions of
owners that are dead here, with real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_triton.server.owner import Owner
from pytest_triton.server.shm_regions import (
    reap_dead_owners_regions,
    region_owner,
    region_prefix,
    remove_regions,
)


def _dead_owner() -> Owner:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    owner = Owner.of(proc.pid)
    proc.kill()
    proc.wait()
    return owner


def _region(shm: Path, prefix: str, suffix: str = "6a07c384-447c-4ad3-ae6d-4a3b5b255634") -> Path:
    path = shm / f"{prefix}{suffix}"
    path.write_bytes(b"\0" * 16)
    return path


def test_a_region_name_records_its_owner() -> None:
    owner = Owner.current()
    name = region_prefix(owner, "0123456789ab") + "6a07c384-447c-4ad3-ae6d-4a3b5b255634"
    assert region_owner(name) == owner
    assert region_owner("triton_python_backend_shm_region_6a07c384") is None


def test_only_regions_of_dead_owners_here_are_reaped(tmp_path: Path) -> None:
    live = _region(tmp_path, region_prefix(Owner.current(), "aaaaaaaaaaaa"))
    dead = _region(tmp_path, region_prefix(_dead_owner(), "bbbbbbbbbbbb"))
    me = Owner.current()
    elsewhere = Owner(pid=me.pid + 1, start_ticks=1, host="another-boot/4026531836")
    other_host = _region(tmp_path, region_prefix(elsewhere, "cccccccccccc"))
    not_ours = _region(tmp_path, "triton_python_backend_shm_region_")
    assert reap_dead_owners_regions(tmp_path) == [dead.name]
    assert live.exists() and other_host.exists() and not_ours.exists() and not dead.exists()


def test_a_servers_regions_are_removed_by_prefix(tmp_path: Path) -> None:
    prefix = region_prefix(Owner.current(), "aaaaaaaaaaaa")
    mine = [_region(tmp_path, prefix, f"{i}") for i in range(3)]
    other = _region(tmp_path, region_prefix(Owner.current(), "bbbbbbbbbbbb"))
    assert sorted(remove_regions(prefix, tmp_path)) == sorted(p.name for p in mine)
    assert other.exists() and not any(p.exists() for p in mine)
    with pytest.raises(ValueError, match="not a pytest-triton region prefix"):
        remove_regions("triton_python_backend_shm_region_", tmp_path)
