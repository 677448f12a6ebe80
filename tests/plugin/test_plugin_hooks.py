"""pytest-triton's own hooks (plugin/hookspecs.py), as another plugin implements them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FAKE_CONFTEST = (Path(__file__).parent / "fake_triton_conftest.py").read_text()

# A team's own plugin: it counts the steps it sees and holds each measurement to a step budget.
BUDGET_PLUGIN = """

STEPS = []


def pytest_triton_step(item, step):
    STEPS.append((item.name, step.load_point))


def pytest_triton_judge(item, records):
    for record in records:
        seen = [p for name, p in STEPS if name == item.name]
        if len(seen) > 1:
            record.fail("step budget", f"{record.key}: {len(seen)} steps over a budget of 1")
"""


def test_a_plugin_sees_steps_and_its_verdict_joins_every_other_reason(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(FAKE_CONFTEST + BUDGET_PLUGIN)
    pytester.makeini("[pytest]\ntriton_model_repository = models\n")
    model = pytester.path / "models" / "tiny" / "1"
    model.mkdir(parents=True)
    (model / "model.py").write_text("# tiny\n")
    (model.parent / "config.pbtxt").write_text('backend: "python"\n')
    pytester.makepyfile(
        test_perf="""
        import pytest

        @pytest.mark.triton_slo(p99_ms=1.0)
        @pytest.mark.triton_model("tiny")
        @pytest.mark.triton_load(concurrency=[1, 4])
        def test_tiny(triton):
            triton.measure()
        """
    )
    result = pytester.runpytest("--triton-baseline-required", "--triton-report-json=r.json")
    result.assert_outcomes(failed=1)
    # one failure that states the SLO, the baseline gate and the plugin's own reason
    failure = result.stdout.str().split("FAILURES")[1].split("triton baselines")[0]
    assert failure.count("_ test_tiny _") == 1
    assert "SLO NOT met" in failure and "--triton-baseline-required is set" in failure
    assert "tiny: 2 steps over a budget of 1" in failure
    (reported,) = json.loads((pytester.path / "r.json").read_text())["results"]
    assert sorted(reported["failed_checks"]) == [
        "SLO not met",
        "baseline: no baseline",
        "step budget",
    ]
