"""What a type checker tells a user of the fixture: a misspelt or ill-typed load setting is an
error before anything runs."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from pytest_triton.spec import LoadSettings, LoadSpec

api = pytest.importorskip("mypy.api")


def test_the_typed_settings_are_exactly_loadspecs_fields() -> None:
    assert set(LoadSettings.__annotations__) == {f.name for f in dataclasses.fields(LoadSpec)}


def test_a_misspelt_or_ill_typed_setting_is_a_type_error(tmp_path: Path) -> None:
    suite = tmp_path / "test_user_suite.py"
    suite.write_text(
        textwrap.dedent(
            """
            from pytest_triton import Triton


            def test_ok(triton: Triton) -> None:
                triton.measure("tiny", concurrency=[1, 4], window_s=1.5, protocol="grpc")


            def test_typo(triton: Triton) -> None:
                triton.measure("tiny", concurency=[1, 4])


            def test_wrong_type(triton: Triton) -> None:
                triton.measure("tiny", window_s="long")
            """
        )
    )
    out, _, status = api.run(
        [str(suite), "--strict", "--no-error-summary", "--cache-dir", str(tmp_path / "cache")]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1, out
    assert len(errors) == 2, out
    assert 'Unexpected keyword argument "concurency"' in errors[0]
    assert ":10: error:" in errors[0] and ":14: error:" in errors[1]
