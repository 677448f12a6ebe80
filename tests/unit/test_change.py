"""The confidence interval of a relative change, and the t quantile under it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_triton.judge.change import paired_change, relative_change, t_cdf, t_quantile


@pytest.mark.parametrize(
    ("df", "q975"),
    # Reference values from any t table.
    [(1, 12.7062), (2, 4.3027), (3, 3.1824), (5, 2.5706), (10, 2.2281), (30, 2.0423)],
)
def test_t_quantile_matches_tables(df: float, q975: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(q975, abs=1e-4)


def test_t_quantile_is_normal_for_infinite_df_and_symmetric() -> None:
    assert t_quantile(0.975, math.inf) == pytest.approx(1.959964, abs=1e-5)
    assert t_quantile(0.025, 7) == pytest.approx(-t_quantile(0.975, 7))
    assert t_cdf(t_quantile(0.9, 4.5), 4.5) == pytest.approx(0.9, abs=1e-9)


def test_interval_contains_the_point_and_widens_with_noise() -> None:
    quiet = relative_change(10.0, 11.0, [9.9, 10.0, 10.1], [10.9, 11.0, 11.1])
    noisy = relative_change(10.0, 11.0, [9.0, 10.0, 11.0], [10.0, 11.0, 12.0])
    assert quiet is not None and noisy is not None
    assert quiet.low < 1.1 < quiet.high
    assert noisy.high - noisy.low > 5 * (quiet.high - quiet.low)
    assert quiet.pct == pytest.approx(10.0)


def test_run_noise_widens_the_interval_by_both_sessions_spread() -> None:
    windows_only = relative_change(10.0, 11.0, [9.9, 10.0, 10.1], [10.9, 11.0, 11.1])
    with_runs = relative_change(10.0, 11.0, [9.9, 10.0, 10.1], [10.9, 11.0, 11.1], run_noise=0.02)
    assert windows_only is not None and with_runs is not None
    assert with_runs.low < windows_only.low and with_runs.high > windows_only.high
    # a known variance: it adds no estimation error, so the degrees of freedom only grow
    assert with_runs.df > windows_only.df
    # identical windows: the interval is the run term alone, 1.96 x sqrt(2) x 2% on the log
    flat = relative_change(10.0, 11.0, [10.0, 10.0], [11.0, 11.0], run_noise=0.02)
    assert flat is not None
    assert math.log(flat.high / 1.1) == pytest.approx(1.959964 * math.sqrt(2) * 0.02, rel=1e-4)


def test_no_interval_without_a_spread_estimate_or_a_ratio() -> None:
    assert relative_change(10.0, 11.0, [10.0], [11.0, 11.0]) is None
    assert relative_change(0.0, 11.0, [0.0, 0.0], [11.0, 11.0]) is None


positive = st.floats(min_value=0.01, max_value=1e5, allow_nan=False, allow_infinity=False)


@given(st.lists(positive, min_size=2, max_size=12))
def test_identical_samples_give_ratio_one_inside_the_interval(samples: list[float]) -> None:
    mean = sum(samples) / len(samples)
    change = relative_change(mean, mean, samples, samples)
    assert change is not None
    assert change.ratio == 1.0
    assert change.low <= 1.0 <= change.high


@given(
    st.lists(positive, min_size=2, max_size=12),
    st.floats(min_value=0.1, max_value=10.0),
)
def test_interval_is_scale_equivariant(samples: list[float], factor: float) -> None:
    """Multiplying one side by k multiplies the ratio and both bounds by k (units don't matter)."""
    mean = sum(samples) / len(samples)
    base = relative_change(mean, mean, samples, samples)
    scaled = relative_change(mean, mean * factor, samples, [s * factor for s in samples])
    assert base is not None and scaled is not None
    assert scaled.ratio == pytest.approx(base.ratio * factor, rel=1e-9)
    assert scaled.low == pytest.approx(base.low * factor, rel=1e-6)
    assert scaled.high == pytest.approx(base.high * factor, rel=1e-6)


def test_a_baseline_of_several_sessions_is_their_geometric_mean() -> None:
    windows = [9.9, 10.0, 10.1]
    one = relative_change(10.0, 10.0, windows, windows, run_noise=0.02)
    three = relative_change(10.0, 10.0, windows, windows, run_noise=0.02, earlier_points=[11, 12])
    assert one is not None and three is not None
    assert three.sessions == 3 and one.sessions == 1
    assert three.ratio == pytest.approx(10.0 / (10.0 * 11.0 * 12.0) ** (1 / 3))


def test_agreeing_sessions_narrow_the_interval_and_spread_ones_widen_it() -> None:
    """Averaging K sessions shrinks the baseline's own offset (narrower than one session);
    sessions that disagree more than the default run noise are evidence of a noisier machine."""
    windows = [9.9, 10.0, 10.1]
    one = relative_change(10.0, 10.5, windows, windows, run_noise=0.02)
    agreeing = relative_change(
        10.0, 10.5, windows, windows, run_noise=0.02, earlier_points=[10.05, 9.95, 10.0, 10.02]
    )
    spread = relative_change(
        10.0, 10.5, windows, windows, run_noise=0.02, earlier_points=[9.0, 11.0, 10.0, 10.5]
    )
    assert one is not None and agreeing is not None and spread is not None
    width = {
        name: c.high / c.low for name, c in [("one", one), ("agree", agreeing), ("spread", spread)]
    }
    assert width["agree"] < width["one"] < width["spread"]
    assert spread.df < agreeing.df  # an observed noise brings its few degrees of freedom


def test_pairs_that_agree_bound_a_change_that_pairs_that_disagree_cannot() -> None:
    """Paired with the baseline build: each pair's ratio is one sample of the change."""
    agreeing = paired_change(10.0, 11.5, [1.14, 1.16, 1.15, 1.15], pair_noise=0.01)
    assert agreeing is not None
    assert agreeing.ratio == pytest.approx(1.15)
    assert 1.05 < agreeing.low < 1.15 < agreeing.high < 1.25
    assert agreeing.df > 3  # the known noise term adds no estimation error
    # the same mean change from pairs that flip between two states: no bound on it
    flipping = paired_change(10.0, 11.5, [1.45, 0.98, 1.22, 0.95], pair_noise=0.01)
    assert flipping is not None and flipping.low < 1.0 < flipping.high


def test_pair_noise_widens_and_too_few_pairs_give_no_interval() -> None:
    quiet = paired_change(10.0, 10.0, [0.99, 1.01, 1.0], pair_noise=0.0)
    noisy = paired_change(10.0, 10.0, [0.99, 1.01, 1.0], pair_noise=0.03)
    assert quiet is not None and noisy is not None
    assert noisy.high / noisy.low > quiet.high / quiet.low
    assert paired_change(10.0, 10.0, [1.0]) is None  # no spread from one pair
    assert paired_change(10.0, 10.0, [1.0, math.nan]) is None  # a block without requests
    assert paired_change(0.0, 10.0, [1.0, 1.0]) is None
