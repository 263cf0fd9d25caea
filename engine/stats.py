"""The statistics behind every claim: a paired effect's intervals over seeds, the test over
per-seed summaries, and Holm's correction across a report.

The seed is the unit of replication. The levels of one seed form a chain (each level's mask
comes from the previous level's solution), so they are not independent observations, and
every test here takes one number per seed. With balanced data (every seed has the same
levels) the one-sample t test over each seed's mean is the test of the intercept in a linear
mixed model with seed as a random intercept (REML, t rather than z reference); the tests
check that against statsmodels' MixedLM.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

ALPHA = 0.05  # significance level of every test, after Holm's correction
CONFIDENCE = 0.95  # of every interval
NAN = math.nan


@dataclass(frozen=True)
class Interval:
    """A paired effect over seeds (> 0 = the claim's direction) with two intervals.

    `t_low`, `t_high`: the Student t interval for the mean (exact for normal differences; NaN
    with one seed). `sign_low`, `sign_high`: the exact, distribution-free interval for the
    median from order statistics (the sign test inverted); its coverage `sign_confidence` is
    what n allows, at most 1 − 2/2^n, so below 6 seeds it is [min, max] at less than 95%
    (75% at 3 seeds), and the coverage is stated rather than the interval widened.
    """

    n: int
    mean: float
    sd: float
    median: float
    t_low: float
    t_high: float
    sign_low: float
    sign_high: float
    sign_confidence: float


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    d = np.asarray(values, dtype=float)
    return d[np.isfinite(d)]


def sign_interval(values: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE):
    """(low, high, coverage): [x_(k), x_(n+1−k)] with the largest k whose coverage
    1 − 2·P(B ≤ k−1), B ~ Binomial(n, ½), is at least `confidence`; where even k = 1 falls
    short, [min, max] with the coverage it has. NaN below two values."""
    x = np.sort(_finite(values))
    n = len(x)
    if n < 2:
        return NAN, NAN, NAN
    k = 1
    while k + 1 <= (n + 1) // 2 and 1 - 2 * stats.binom.cdf(k, n, 0.5) >= confidence:
        k += 1
    return float(x[k - 1]), float(x[n - k]), float(1 - 2 * stats.binom.cdf(k - 1, n, 0.5))


def interval(values: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE) -> Interval:
    """Mean, sd, median and both intervals of the finite `values`."""
    d = _finite(values)
    n = len(d)
    if n == 0:
        return Interval(0, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN)
    mean, median = float(d.mean()), float(np.median(d))
    sd = float(d.std(ddof=1)) if n > 1 else NAN
    if n < 2:
        t_low = t_high = NAN
    elif sd == 0:  # identical differences: an interval of width zero, not scipy's NaN
        t_low = t_high = mean
    else:
        ci = stats.ttest_1samp(d, 0.0).confidence_interval(confidence)
        t_low, t_high = float(ci.low), float(ci.high)
    s_low, s_high, s_conf = sign_interval(d, confidence)
    return Interval(n, mean, sd, median, t_low, t_high, s_low, s_high, s_conf)


@dataclass(frozen=True)
class SeedTest:
    """Tests of one number per seed against zero, one-sided each way: `*_for` tests the
    claim's direction (mean > 0), `*_against` the opposite (mean < 0). `t_*`: one-sample
    Student t; `w_*`: Wilcoxon signed-rank (exact for small n; its smallest one-sided p is
    1/2^n, 0.125 at 3 seeds, so it is shown beside the t test and never decides alone)."""

    summary: Interval
    t_p_for: float
    t_p_against: float
    w_p_for: float
    w_p_against: float


def _t_p(d: np.ndarray, alternative: str) -> float:
    if d.std(ddof=1) == 0:  # no spread to test against: the sign of the mean decides
        mean = float(d.mean())
        return 0.0 if (mean > 0 if alternative == "greater" else mean < 0) else 1.0
    return float(stats.ttest_1samp(d, 0.0, alternative=alternative).pvalue)


def _w_p(d: np.ndarray, alternative: str) -> float:
    if not np.any(d != 0):
        return 1.0
    return float(stats.wilcoxon(d, alternative=alternative).pvalue)


def seed_test(per_seed: Sequence[float] | np.ndarray) -> SeedTest:
    """The t and Wilcoxon tests of `per_seed` (one summary per seed); NaN p below 2 seeds."""
    d = _finite(per_seed)
    summary = interval(d)
    if len(d) < 2:
        return SeedTest(summary, NAN, NAN, NAN, NAN)
    return SeedTest(
        summary,
        _t_p(d, "greater"),
        _t_p(d, "less"),
        _w_p(d, "greater"),
        _w_p(d, "less"),
    )


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment (statsmodels) over the finite p values; NaN stays NaN and
    is not counted in the family."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, NAN)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], alpha=ALPHA, method="holm")[1]
    return out
