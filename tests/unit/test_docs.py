"""The README lists what users can write: every load setting of the triton_load marker."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pytest_triton.spec import LoadSpec

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_load_setting_is_in_the_readme() -> None:
    text = README.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    listed = {part.strip(" `") for row in rows for part in row.split("|")[1].split(",")}
    missing = [f.name for f in dataclasses.fields(LoadSpec) if f.name not in listed]
    assert not missing, f"README's triton_load table lacks {missing}"
