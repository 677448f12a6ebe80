"""Several models measured at once against the real bundled tritonserver: each with its own
load and SLO, step by step together, each recorded, judged and reported on its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bundled_support import NEEDS_BUNDLED_SERVER, serving

from pytest_triton.errors import ConfigError
from pytest_triton.load.together import Member, measure_together
from pytest_triton.spec import LoadSpec

pytestmark = NEEDS_BUNDLED_SERVER

QUICK = dict(warmup_s=0.3, window_s=0.5, max_trials=6)


def test_each_model_gets_its_own_steps_and_none_counts_the_other_as_its_own(
    example_repository: Path, tmp_path: Path
) -> None:
    with serving(example_repository, tmp_path, ("tiny", "numpy_compute")) as srv:
        seen: list[tuple[int, str]] = []
        tiny, numpy_compute = measure_together(
            srv.endpoints,
            [
                Member("tiny", None, LoadSpec(concurrency=(2, 4), **QUICK)),
                Member("numpy_compute", None, LoadSpec(concurrency=(1, 2), **QUICK)),
            ],
            is_alive=srv.is_alive,
            progress=lambda j, step: seen.append((j, step.load_point)),
        )
        assert [s.load_point for s in tiny.steps] == ["c2", "c4"]
        assert [s.load_point for s in numpy_compute.steps] == ["c1", "c2"]
        # step by step: both models' first steps before either's second
        assert seen == [(0, "c2"), (1, "c1"), (0, "c4"), (1, "c2")]
        for m in (tiny, numpy_compute):
            assert all(s.requests > 0 and s.errors == 0 for s in m.steps)
            # exactly the asked windows, none waited for: the models' steps end together
            assert all(s.measured_windows == 3 == len(s.windows) for s in m.steps)
            # the other model was loaded beside it, not called by it
            assert all(not s.composing for s in m.steps)
        with pytest.raises(ConfigError, match="each needs as many load points"):
            measure_together(
                srv.endpoints,
                [
                    Member("tiny", None, LoadSpec(concurrency=(1, 2))),
                    Member("numpy_compute", None, LoadSpec(concurrency=(1,))),
                ],
            )


SUITE = """
import pytest


@pytest.mark.triton_slo(p99_ms=1000)
@pytest.mark.triton_load(window_s=0.5, warmup_s=0.3)
def test_two_models_share_the_server(triton):
    triton.measure_together({
        "tiny": {"concurrency": [4], "slo": {"p99_ms": 0.001}},
        "numpy_compute": {"concurrency": [2]},
    })
"""


def test_each_model_is_judged_on_its_own_slo_and_reported(
    example_repository: Path, tmp_path: Path
) -> None:
    (tmp_path / "test_shared.py").write_text(SUITE)
    run = subprocess.run(
        [
            sys.executable, "-m", "pytest", "test_shared.py", "-p", "no:cacheprovider",
            f"--triton-model-repository={example_repository}", "--triton-baseline=off",
            f"--triton-report-json={tmp_path / 'report.json'}",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "SLO NOT met for model 'tiny'" in out, out
    assert "SLO NOT met for model 'numpy_compute'" not in out, out
    report = json.loads((tmp_path / "report.json").read_text())
    (test,) = report["tests"]
    assert test["outcome"] == "failed"
    assert sorted(r["model"]["name"] for r in report["results"]) == ["numpy_compute", "tiny"]
