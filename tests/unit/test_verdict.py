"""Verdicts: regression only when the whole interval is beyond tolerance, in the worse direction."""

from __future__ import annotations

from dataclasses import replace

import pytest
from baseline_factories import measurement_from_latencies, scaled, step, window
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_triton.judge.change import Change
from pytest_triton.judge.guard import MachineLoad
from pytest_triton.judge.rows import Outcome, judge
from pytest_triton.judge.tolerance import Direction, Tolerances
from pytest_triton.judge.verdict import compare
from pytest_triton.result import BlockPair, Measurement, StepResult

BASE_LATENCIES = [5.0, 5.1, 4.9, 5.05, 4.95]


def _rows(verdict_rows: object) -> dict[str, Outcome]:
    return {r.name: r.outcome for r in verdict_rows}  # type: ignore[attr-defined]


def test_judge_uses_the_whole_interval_and_the_direction() -> None:
    up = Change(1.20, 1.15, 1.25, 10, 0.95)
    assert judge(up, Direction.LOWER_IS_BETTER, 0.10) is Outcome.REGRESSION
    assert judge(up, Direction.HIGHER_IS_BETTER, 0.10) is Outcome.IMPROVED
    straddle = Change(1.12, 1.05, 1.19, 10, 0.95)
    assert judge(straddle, Direction.LOWER_IS_BETTER, 0.10) is Outcome.INCONCLUSIVE
    small = Change(1.02, 0.98, 1.06, 10, 0.95)
    assert judge(small, Direction.LOWER_IS_BETTER, 0.10) is Outcome.OK
    assert judge(small, Direction.HIGHER_IS_BETTER, 0.10) is Outcome.OK


def test_slower_build_regresses_latency_and_throughput() -> None:
    base = measurement_from_latencies(BASE_LATENCIES)
    verdict = compare(base, scaled(base, 1.25))
    outcomes = _rows(verdict.rows)
    assert outcomes["c4 p50"] is Outcome.REGRESSION
    assert outcomes["c4 throughput"] is Outcome.REGRESSION
    assert verdict.regressed


def test_faster_build_is_reported_as_an_improvement_not_a_failure() -> None:
    base = measurement_from_latencies(BASE_LATENCIES)
    verdict = compare(base, scaled(base, 0.75))
    assert not verdict.regressed
    assert {r.name for r in verdict.improvements} >= {"c4 p50", "c4 throughput"}
    assert "improvement" in verdict.summary()


def test_message_is_a_table_with_attribution_to_compute() -> None:
    base = measurement_from_latencies(BASE_LATENCIES)
    verdict = compare(base, scaled(base, 1.25))
    text = verdict.message()
    header = text.splitlines()[0]
    for column in ("metric", "baseline", "current", "change [95% CI]", "tolerance", "verdict"):
        assert column in header
    assert "REGRESSION" in text
    # scaled() puts the whole slowdown into compute: the attribution must say so.
    assert "mostly compute" in text
    assert "where: c4 latency +1." in text


def test_queue_growth_is_attributed_to_the_queue() -> None:
    base = Measurement(
        "m",
        None,
        (
            step(
                [
                    window(5.0 + d, 800.0, queue_us=100.0, compute_us=4830.0)
                    for d in (-0.05, 0.0, 0.05)
                ],
                4,
            ),
        ),
        1.0,
    )
    slow = Measurement(
        "m",
        None,
        (
            step(
                [
                    window(7.0 + d, 570.0, queue_us=2100.0, compute_us=4830.0)
                    for d in (-0.05, 0.0, 0.05)
                ],
                4,
            ),
        ),
        1.0,
    )
    verdict = compare(base, slow)
    assert verdict.regressed
    assert "mostly queue" in verdict.attribution[0]


WITH_P99 = Tolerances().with_overrides({"p99": 0.2})


def test_p99_from_few_samples_is_not_gated_and_says_so() -> None:
    base = measurement_from_latencies(BASE_LATENCIES, requests=200)
    verdict = compare(base, scaled(base, 1.5), WITH_P99)
    p99 = next(r for r in verdict.rows if r.metric == "p99")
    assert p99.outcome is Outcome.NOT_GATED
    assert p99.reason == "needs >= 1000 requests/window, had 200"
    assert any("p99 not gated: too few samples" in w for w in verdict.warnings)
    # ...while the median, well sampled, is still gated and caught
    assert _rows(verdict.rows)["c4 p50"] is Outcome.REGRESSION


def test_p99_with_enough_samples_is_gated() -> None:
    base = measurement_from_latencies(BASE_LATENCIES, requests=2000)
    p99 = next(r for r in compare(base, scaled(base, 1.5), WITH_P99).rows if r.metric == "p99")
    assert p99.outcome is Outcome.REGRESSION


def test_steps_are_matched_by_load_point_and_unmatched_ones_noted() -> None:
    base = measurement_from_latencies(BASE_LATENCIES, concurrency=4)
    other = measurement_from_latencies(BASE_LATENCIES, concurrency=8)
    verdict = compare(base, other)
    assert verdict.rows == ()
    assert "c8 has no baseline step (new load point)" in verdict.notes
    assert "c4 is in the baseline but was not measured now" in verdict.notes


def test_one_window_per_side_cannot_be_bounded() -> None:
    base = measurement_from_latencies([5.0])
    verdict = compare(base, scaled(base, 2.0))
    assert not verdict.regressed
    assert all(r.outcome is Outcome.NOT_GATED for r in verdict.rows)


def test_tolerance_overrides_switch_metrics_on_and_off() -> None:
    tolerances = Tolerances().with_overrides({"p99": None, "p90": 0.5})
    base = measurement_from_latencies(BASE_LATENCIES)
    names = {r.metric for r in compare(base, scaled(base, 1.25), tolerances).rows}
    assert "p99" not in names and "p90" in names
    # a +25% change under a 50% tolerance is not a regression
    p90 = next(r for r in compare(base, scaled(base, 1.25), tolerances).rows if r.metric == "p90")
    assert p90.outcome is Outcome.OK


def test_capacity_is_compared_with_the_spread_of_its_step() -> None:
    base = measurement_from_latencies(BASE_LATENCIES)
    slow = scaled(base, 1.3)
    base = Measurement(base.model, None, base.steps, 1.0, capacity=base.steps[0].throughput)
    slow = Measurement(slow.model, None, slow.steps, 1.0, capacity=slow.steps[0].throughput)
    row = next(r for r in compare(base, slow).rows if r.metric == "capacity")
    assert row.outcome is Outcome.REGRESSION and row.change is not None
    # a capacity the ramp only bounded from below says so wherever it is compared
    bounded = replace(slow, extra={"capacity_lower_bound": True})
    assert "capacity of the current run is a lower bound" in " ".join(compare(base, bounded).notes)


# --- laws -------------------------------------------------------------------------------------

latency_lists = st.lists(st.floats(min_value=0.5, max_value=500.0), min_size=2, max_size=10)


@given(latency_lists)
def test_identical_samples_never_regress(latencies: list[float]) -> None:
    base = measurement_from_latencies(latencies)
    verdict = compare(base, base)
    assert not verdict.regressed
    assert not verdict.improvements


@settings(max_examples=200)
@given(
    st.floats(min_value=0.5, max_value=500.0),
    st.lists(st.floats(min_value=-0.05, max_value=0.05), min_size=3, max_size=10),
    st.floats(min_value=2.0, max_value=20.0),
)
def test_a_shift_far_beyond_tolerance_always_regresses(
    level: float, jitter: list[float], factor: float
) -> None:
    """Windows within +-5% of their level, a slowdown of 2x or more: always caught."""
    base = measurement_from_latencies([level * (1 + j) for j in jitter])
    verdict = compare(base, scaled(base, factor))
    outcomes = _rows(verdict.rows)
    assert outcomes["c4 p50"] is Outcome.REGRESSION
    assert outcomes["c4 throughput"] is Outcome.REGRESSION


@given(latency_lists, st.floats(min_value=0.05, max_value=0.5))
def test_a_speedup_never_regresses(latencies: list[float], factor: float) -> None:
    base = measurement_from_latencies(latencies)
    assert not compare(base, scaled(base, factor)).regressed


def test_only_the_measured_windows_bound_the_change() -> None:
    """Windows before stability (a warm-up trend) must not widen the interval."""
    warmup = [window(15.0, 270.0), window(9.0, 440.0)]
    stable = [window(5.0 + d, 800.0 * (1 - d / 5)) for d in (-0.05, 0.0, 0.05)]

    def run(factor: float) -> Measurement:
        windows = [window(w.avg_ms * factor, w.throughput / factor) for w in warmup + stable]
        s = step(windows, 4)
        measured = step(windows[2:], 4)  # the aggregate over the last three
        return Measurement(
            "m", None, (replace(measured, windows=s.windows, measured_windows=3),), 1.0
        )

    # windows alone (no run-to-run term), so the interval shows which windows were used
    verdict = compare(run(1.0), run(1.2), Tolerances(run_noise=0.0))
    p50 = next(r for r in verdict.rows if r.metric == "p50")
    assert p50.outcome is Outcome.REGRESSION
    assert p50.change is not None and p50.change.high_pct < 25.0


def test_probe_steps_are_never_judged() -> None:
    base = measurement_from_latencies(BASE_LATENCIES)
    probe = replace(base.steps[0], concurrency=16, probe=True)
    slow_probe = replace(scaled(base, 3.0).steps[0], concurrency=16, probe=True)
    verdict = compare(
        Measurement("tiny", None, (base.steps[0], probe), 1.0),
        Measurement("tiny", None, (base.steps[0], slow_probe), 1.0),
    )
    assert not verdict.regressed
    assert {r.step for r in verdict.rows} == {"c4"}


def test_a_regression_on_a_busier_machine_is_not_trusted() -> None:
    base = measurement_from_latencies(BASE_LATENCIES)
    slow = scaled(base, 1.3)
    quiet, busy = MachineLoad(2, {"c4": 0.05}), MachineLoad(2, {"c4": 0.9})
    verdict = compare(base, slow, baseline_load=quiet, current_load=busy)
    assert not verdict.regressed
    p50 = next(r for r in verdict.rows if r.metric == "p50")
    assert p50.outcome is Outcome.INCONCLUSIVE
    assert p50.reason == "machine busier: other processes used 0.90 of 2 CPUs vs 0.05"
    assert any("cannot be told from a neighbour's load" in w for w in verdict.warnings)
    assert "not trusted (machine busier): c4 throughput -23.1%, c4 p50 +30.0%" in verdict.summary()
    # similar neighbours: the regression stands
    assert compare(
        base, slow, baseline_load=quiet, current_load=MachineLoad(2, {"c4": 0.2})
    ).regressed
    # guard off, or nothing known about one side: the regression stands
    assert compare(
        base, slow, Tolerances(contention_guard=None), baseline_load=quiet, current_load=busy
    ).regressed
    assert compare(base, slow, baseline_load=None, current_load=busy).regressed


def test_a_baseline_from_a_busy_machine_is_called_out() -> None:
    base = measurement_from_latencies(BASE_LATENCIES)
    verdict = compare(
        base,
        base,
        baseline_load=MachineLoad(2, {"c4": 1.0}),
        current_load=MachineLoad(2, {"c4": 1.0}),
    )
    assert any("re-record it on a quieter machine" in w for w in verdict.warnings)


def test_a_regression_larger_than_neighbours_could_cause_still_fails() -> None:
    base = measurement_from_latencies(BASE_LATENCIES)
    # 0.5 more of 2 CPUs taken: at worst 2 / 1.5 = +33%; a 3x slowdown is the build's doing
    quiet, busier = MachineLoad(2, {"c4": 0.0}), MachineLoad(2, {"c4": 0.5})
    verdict = compare(base, scaled(base, 3.0), baseline_load=quiet, current_load=busier)
    assert verdict.regressed
    p50 = next(r for r in verdict.rows if r.metric == "p50")
    assert p50.outcome is Outcome.REGRESSION


def test_an_improvement_a_quieter_machine_explains_is_not_trusted() -> None:
    """An improvement needs the evidence a regression needs: against a baseline measured while
    neighbours took a CPU, a speedup they could explain is not called one."""
    base = measurement_from_latencies(BASE_LATENCIES)
    busy, quiet = MachineLoad(2, {"c4": 1.0}), MachineLoad(2, {"c4": 0.0})
    verdict = compare(base, scaled(base, 0.7), baseline_load=busy, current_load=quiet)
    assert not verdict.improvements
    p50 = next(r for r in verdict.rows if r.metric == "p50")
    assert p50.outcome is Outcome.INCONCLUSIVE
    assert p50.reason == "machine quieter: other processes used 0.00 of 2 CPUs vs 1.00"
    assert "not trusted (machine quieter): c4 throughput +42.9%, c4 p50 -30.0%" in (
        verdict.summary()
    )
    assert not any("may have regressed" in w for w in verdict.warnings)
    # a speedup beyond what the machine could give (at most 2x here) is the build's
    faster = compare(base, scaled(base, 0.3), baseline_load=busy, current_load=quiet)
    assert {r.name for r in faster.improvements} >= {"c4 p50", "c4 throughput"}


def test_a_session_offset_within_run_noise_does_not_cry_wolf() -> None:
    """Tight windows, but the whole session ran 9% slower (another process placement, another
    clock): windows alone call it a regression; the run-to-run term does not, and a real 15%
    change still fails."""
    base = measurement_from_latencies(BASE_LATENCIES)
    offset = scaled(base, 1.09)
    assert compare(base, offset, Tolerances(run_noise=0.0)).regressed
    assert not compare(base, offset).regressed
    p50 = next(r for r in compare(base, offset).rows if r.metric == "p50")
    assert p50.outcome is Outcome.INCONCLUSIVE
    # the session summary names what could not be bounded, not just how many
    assert "2 inconclusive: c4 throughput -8.3%, c4 p50 +9.0%" in compare(base, offset).summary()
    assert compare(base, scaled(base, 1.15)).regressed


def test_a_lucky_baseline_session_is_outvoted_by_its_earlier_sessions() -> None:
    """The latest baseline session ran 12% faster than usual: against it alone an unchanged
    build regresses; against the mean with four earlier sessions at the usual level it does
    not, and the table shows that mean as the baseline."""
    usual = measurement_from_latencies(BASE_LATENCIES)
    lucky = scaled(usual, 1 / 1.12)
    step = usual.steps[0]
    earlier = [{"steps": {step.load_point: {"p50": step.p50_ms, "throughput": step.throughput}}}]
    earlier *= 4
    assert compare(lucky, usual).regressed
    verdict = compare(lucky, usual, earlier_sessions=earlier)
    assert not verdict.regressed
    p50 = next(r for r in verdict.rows if r.metric == "p50")
    assert p50.change is not None and p50.change.sessions == 5
    assert p50.baseline == pytest.approx((lucky.steps[0].p50_ms * step.p50_ms**4) ** (1 / 5))
    # the sessions' spread (one 12% off) is noisier than the default: wider, but a real
    # slowdown against their mean still fails
    assert compare(lucky, scaled(usual, 1.3), earlier_sessions=earlier).regressed


def _paired(ratios: list[float]) -> tuple[Measurement, Measurement, dict[str, list[BlockPair]]]:
    """A baseline build and a current one measured in four block pairs at c4, whose p50 (and
    throughput, inversely) moved by `ratios`; every block's windows agree within 1 %."""
    blocks = [
        BlockPair(
            step([window(5.0 * d, 800.0) for d in (0.99, 1.0, 1.01)], 4),
            step([window(5.0 * r * d, 800.0 / r) for d in (0.99, 1.0, 1.01)], 4),
        )
        for r in ratios
    ]
    base = Measurement("m", None, (pool_windows([p.baseline for p in blocks]),), 1.0)
    cur = Measurement("m", None, (pool_windows([p.current for p in blocks]),), 1.0)
    return base, cur, {"c4": blocks}


def pool_windows(blocks: list[StepResult]) -> StepResult:
    return step([w for b in blocks for w in b.windows], 4)


def test_paired_steps_are_bounded_by_their_pairs_not_their_windows() -> None:
    # Two of four pairs caught the current copy in a slow state: the pooled windows alone
    # (tight within each block) would call +20 % a regression; the pairs cannot bound it.
    base, cur, pairs = _paired([1.0, 1.4, 1.4, 1.0])
    tolerances = Tolerances(run_noise=0.01)
    assert _rows(compare(base, cur, tolerances).rows)["c4 p50"] is Outcome.REGRESSION
    verdict = compare(base, cur, tolerances, pairs=pairs)
    assert _rows(verdict.rows)["c4 p50"] is Outcome.INCONCLUSIVE
    assert not verdict.regressed
    # each row that moved lists its pairs, so a reader sees the states
    assert "pairs: c4 p50: +0.0% +40.0% +40.0% +0.0% (4 pairs in time order)" in verdict.message()


def test_a_change_every_pair_agrees_on_regresses_and_lists_the_pairs() -> None:
    base, cur, pairs = _paired([1.14, 1.16, 1.15, 1.15])
    verdict = compare(base, cur, Tolerances(run_noise=0.01), pairs=pairs)
    outcomes = _rows(verdict.rows)
    assert outcomes["c4 p50"] is Outcome.REGRESSION
    assert outcomes["c4 throughput"] is Outcome.REGRESSION
    assert "pairs: c4 throughput: -12.3% -13.8% -13.0% -13.0%" in verdict.message()
    unchanged = compare(base, base, Tolerances(run_noise=0.01), pairs=_paired([1.0] * 4)[2])
    assert not unchanged.regressed and "pairs:" not in unchanged.message()


def test_a_block_pair_without_a_value_leaves_its_row_not_gated_and_says_which() -> None:
    base, cur, pairs = _paired([1.15] * 4)
    first = pairs["c4"][0]
    idle = replace(first.baseline, throughput=0.0)  # a block that served nothing
    pairs["c4"][0] = BlockPair(idle, first.current)
    rows = {r.name: r for r in compare(base, cur, Tolerances(run_noise=0.01), pairs=pairs).rows}
    assert rows["c4 throughput"].outcome is Outcome.NOT_GATED
    assert rows["c4 throughput"].reason == "1 of 4 block pairs have no value"
    assert rows["c4 p50"].outcome is Outcome.REGRESSION  # the other metric still is gated


@pytest.mark.parametrize("run_noise", [0.0, 0.02, 0.05])
def test_each_row_states_the_smallest_change_it_could_call(run_noise: float) -> None:
    """The stated resolution holds: a slowdown just beyond it regresses, one just short of it
    does not, for latency (up) and throughput (down) alike."""
    base = measurement_from_latencies(BASE_LATENCIES)
    tolerances = Tolerances(run_noise=run_noise)
    same = {r.name: r for r in compare(base, base, tolerances).rows}
    for name in ("c4 p50", "c4 throughput"):
        seen = same[name].resolution
        assert seen is not None and seen > same[name].tolerance
        # scaling every window keeps each side's relative spread, so the interval's width too
        factor = 1.0 + seen if name.endswith("p50") else 1.0 / (1.0 - seen)
        beyond = {
            r.name: r.outcome for r in compare(base, scaled(base, factor * 1.01), tolerances).rows
        }
        short = {
            r.name: r.outcome for r in compare(base, scaled(base, factor * 0.99), tolerances).rows
        }
        assert beyond[name] is Outcome.REGRESSION
        assert short[name] is not Outcome.REGRESSION
    assert "sees" in compare(base, base, tolerances).table().splitlines()[0]


def test_a_comparison_that_cannot_see_its_tolerance_says_so() -> None:
    base = measurement_from_latencies(BASE_LATENCIES)
    sharp = compare(base, base, Tolerances(run_noise=0.0))
    assert not sharp.blind and sharp.blindness() == ""
    noisy = compare(base, base, Tolerances(run_noise=0.05))
    assert noisy.blind
    worst = noisy.coarsest
    assert worst is not None and worst.resolution is not None
    sentence = (
        f"this runner sees changes of {worst.resolution * 100:.0f}% or more in {worst.name}; "
        "the tolerance is 5%"
    )
    assert noisy.blindness() == sentence
    assert any(w.startswith(sentence) for w in noisy.warnings)
    assert f"sees {worst.resolution * 100:.0f}% ({worst.name})" in noisy.summary()
