"""A confidence interval for the relative change of a metric between two runs.

Method: Welch's t-interval on the log of the ratio, with the delta method for the variance
(se² = s_b²/(n_b·m_b²) + s_c²/(n_c·m_c²), Welch–Satterthwaite degrees of freedom), where the
samples are the per-window values of each run. Why this and not a bootstrap or request-level
statistics:

* windows are the independent units we keep: requests inside a window are autocorrelated
  (queues), a window's mean is an average of hundreds of them and close to normal;
* CI runs give few windows (3..10 per step). A bootstrap of 3 values has a handful of distinct
  resamples and badly underestimates the spread; the t distribution is exact for small normal
  samples and widens honestly as n falls;
* the two runs have different variances (another machine load, another build): Welch does not
  pool them;
* a ratio is what tolerances are stated in, and on the log scale an interval for it is symmetric
  and never crosses zero;
* it is deterministic: the same files give the same verdict on every rerun, which a CI gate
  that people must trust needs (a bootstrap's random verdict flips are the cry-wolf kind).

The point estimate is the ratio of the step aggregates (what the user sees in the table), and
the windows supply its spread.

Windows of one session cannot see what differs between sessions: where the server process and
its python stubs landed in memory and on which cores, the clock the host gave the VM, how the
dynamic batcher happened to group requests. On the benchmark machine an unchanged build moved by
1-4% (SD) from session to session while its windows agreed within 1-2%, and a baseline recorded
in one such session carries its offset into every later comparison. So each side also gets a
run-to-run term, `run_noise` (relative SD of one session's value), as a known variance with no
degrees of freedom of its own: se² = window parts + 2·run_noise².

A baseline may hold K sessions (earlier `update` runs of an unchanged test). Its point is then
the geometric mean of the sessions' values, whose offset is √K smaller than one session's: the
baseline side's variance is (windows + run_noise²) / K. From 3 sessions on, their spread is
evidence of the run-to-run noise too. Three to five sessions alone are a poor estimate (with 2
degrees of freedom t is 4.3: replayed on the trust benchmark's runs, the gate then missed every
+15 % on one model), so the spread updates the default as a prior worth PRIOR_SESSIONS sessions
(the scaled-inverse-χ² posterior of a variance): run_noise² becomes
(PRIOR_SESSIONS·run_noise² + (K-1)·observed²) / (PRIOR_SESSIONS + K-1), with that many degrees
of freedom in the Welch-Satterthwaite sum. It only ever widens: a handful of agreeing sessions
is too little to claim a quieter machine than the default.

Paired with the baseline build (pytest_triton.load.paired), the samples are not windows but
pairs of blocks, one of each build measured one after the other: the log of each pair's
current/baseline ratio is one sample of the change, and the interval is a t-interval on their
mean with k-1 degrees of freedom, plus `pair_noise` (the relative SD a copy of a model adds as
a whole, e.g. where its python stub landed) on each side as a known variance. Windows would be
the wrong unit there: a block's windows share a state that some load points keep for the whole
block (a dynamic batcher's rhythm), so their spread says nothing about the next block's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# How many sessions' worth of evidence the run_noise setting counts as against the spread of a
# baseline's own sessions (module docstring).
PRIOR_SESSIONS = 4


@dataclass(frozen=True)
class Change:
    """current / baseline with a confidence interval, as ratios (1.10 means +10%)."""

    ratio: float
    low: float
    high: float
    df: float
    confidence: float
    sessions: int = 1  # baseline sessions the point is the geometric mean of

    @property
    def pct(self) -> float:
        return (self.ratio - 1.0) * 100.0

    @property
    def low_pct(self) -> float:
        return (self.low - 1.0) * 100.0

    @property
    def high_pct(self) -> float:
        return (self.high - 1.0) * 100.0


def mean_var(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the sample variance of two or more values."""
    n = len(values)
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, var


def blended_variance(prior_var: float, observed_var: float, sessions: int) -> float:
    """A variance observed over `sessions` sessions, updating a prior worth PRIOR_SESSIONS
    (module docstring); PRIOR_SESSIONS + sessions - 1 degrees of freedom."""
    return (PRIOR_SESSIONS * prior_var + (sessions - 1) * observed_var) / (
        PRIOR_SESSIONS + sessions - 1
    )


def relative_variance(values: Sequence[float]) -> float:
    """The squared coefficient of variation of the values (0 when it cannot be told: fewer
    than 2 values, or a mean that is not positive)."""
    if len(values) < 2:
        return 0.0
    mean, var = mean_var(values)
    return var / (mean * mean) if mean > 0 else 0.0


def relative_change(
    baseline_point: float,
    current_point: float,
    baseline_windows: Sequence[float],
    current_windows: Sequence[float],
    confidence: float = 0.95,
    run_noise: float = 0.0,
    earlier_points: Sequence[float] = (),
) -> Change | None:
    """The interval, or None when it cannot be bounded: fewer than 2 windows on a side (no
    spread estimate) or a non-positive value (no ratio). `run_noise` is the relative SD a
    session adds on top of its windows' spread; `earlier_points` are the values of the
    baseline's earlier sessions, `baseline_windows` belong to its latest (module docstring)."""
    if len(baseline_windows) < 2 or len(current_windows) < 2:
        return None
    if baseline_point <= 0 or current_point <= 0 or any(p <= 0 for p in earlier_points):
        return None
    m_b, var_b = mean_var(baseline_windows)
    m_c, var_c = mean_var(current_windows)
    if m_b <= 0 or m_c <= 0:
        return None
    # Relative variances of each side's mean (delta method for the log of a mean).
    v_b = var_b / (len(baseline_windows) * m_b * m_b)
    v_c = var_c / (len(current_windows) * m_c * m_c)
    logs = [math.log(baseline_point), *(math.log(p) for p in earlier_points)]
    k = len(logs)
    base = baseline_point if k == 1 else math.exp(math.fsum(logs) / k)  # geometric mean
    ratio = current_point / base
    # On the log scale a relative SD is (to first order) the SD of the log, one per session.
    run_var = run_noise * run_noise
    run_df = math.inf
    if k >= 3:
        observed = max(0.0, mean_var(logs)[1] - v_b)  # the sessions' spread beyond windows
        blended = blended_variance(run_var, observed, k)
        if blended > run_var:
            run_var, run_df = blended, float(PRIOR_SESSIONS + k - 1)
    v_base = (v_b + run_var) / k
    v_cur = v_c + run_var
    se = math.sqrt(v_base + v_cur)
    # Welch-Satterthwaite: the default run term is a known constant and adds no estimation
    # error (it widens the interval without lowering the degrees of freedom); one updated by
    # the sessions' spread brings its degrees of freedom.
    denominator = (v_b / k) ** 2 / (len(baseline_windows) - 1) + v_c * v_c / (
        len(current_windows) - 1
    )
    if math.isfinite(run_df):
        denominator += (run_var * (1.0 + 1.0 / k)) ** 2 / run_df
    df = se**4 / denominator if denominator > 0 else math.inf
    return _interval(ratio, se, df, confidence, k)


def paired_change(
    baseline_point: float,
    current_point: float,
    pair_ratios: Sequence[float],
    confidence: float = 0.95,
    pair_noise: float = 0.0,
) -> Change | None:
    """The interval from block pairs measured in turn (module docstring): `pair_ratios` are each
    pair's current/baseline value. None when it cannot be bounded: fewer than 2 pairs, or a
    value that is not positive."""
    if len(pair_ratios) < 2 or baseline_point <= 0 or current_point <= 0:
        return None
    if not all(math.isfinite(r) and r > 0 for r in pair_ratios):
        return None
    k = len(pair_ratios)
    v_pairs = mean_var([math.log(r) for r in pair_ratios])[1] / k
    se = math.sqrt(v_pairs + 2.0 * pair_noise * pair_noise)
    # Welch-Satterthwaite again: the known noise term widens without lowering the df.
    df = se**4 / (v_pairs * v_pairs / (k - 1)) if v_pairs > 0 else math.inf
    return _interval(current_point / baseline_point, se, df, confidence)


def critical_t(confidence: float, df: float) -> float:
    """The two-sided t quantile of a confidence interval with df degrees of freedom."""
    if df > 1e6:  # the t quantile is the normal one by then; its series stops converging
        df = math.inf
    return t_quantile(0.5 + confidence / 2.0, df)


def _interval(ratio: float, se: float, df: float, confidence: float, sessions: int = 1) -> Change:
    """ratio × exp(±t·se): the t-interval on the log scale, back as ratios."""
    if se == 0.0:
        return Change(ratio, ratio, ratio, math.inf, confidence, sessions)
    t = critical_t(confidence, df)
    return Change(
        ratio, ratio * math.exp(-t * se), ratio * math.exp(t * se), df, confidence, sessions
    )


# ---------------------------------------------------------------------------------------------
# Student's t quantile without scipy (the core must stay light): the CDF through the regularised
# incomplete beta function (continued fraction, Numerical Recipes' betacf), inverted by bisection.


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    if math.isinf(df):
        return 0.5 * math.erfc(-t / math.sqrt(2.0))
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with df (> 0, may be fractional or inf) degrees of freedom."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"quantile probability must be in (0, 1), got {p}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if p == 0.5:
        return 0.0
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:  # df near 0 has very heavy tails: grow the bracket
        hi *= 2.0
        if hi > 1e12:
            return hi
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2.0
