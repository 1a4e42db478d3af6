"""Statistics of timing samples on fixed data: median, IQR, noise flag and the CI of the median."""

import math

import numpy as np
import pytest

from tpbench.measure.stats import median_ci, summarize


def test_median_iqr_min_mean_on_fixed_samples():
    s = summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert s["median_ms"] == 3.0
    assert s["iqr_ms"] == 2.0  # numpy's linear percentiles: q1 = 2, q3 = 4
    assert s["min_ms"] == 1.0 and s["mean_ms"] == 3.0
    assert s["n_samples"] == 5


def test_even_count_median_is_the_midpoint():
    assert summarize([1.0, 2.0, 3.0, 10.0])["median_ms"] == 2.5


def test_ci_of_the_median_matches_the_binomial_table():
    # n = 100 at 95 %: the textbook ranks are 40 and 61 (1-based).
    assert median_ci(np.arange(1.0, 101.0), level=0.95) == (40.0, 61.0)
    # n = 100 at 99 %: ranks 37 and 64.
    assert median_ci(np.arange(1.0, 101.0), level=0.99) == (37.0, 64.0)


def test_ci_falls_back_to_min_max_with_few_samples():
    # With 5 samples the widest interval covers the median with 1 - 2/32 < 99 %.
    assert median_ci([3.0, 1.0, 2.0, 5.0, 4.0]) == (1.0, 5.0)
    assert median_ci([7.0]) == (7.0, 7.0)
    assert all(math.isnan(v) for v in median_ci([]))


def test_ci_coverage_is_at_least_the_level():
    rng = np.random.default_rng(1)
    true_median = math.log(2.0)  # of the unit exponential
    hits = sum(lo <= true_median <= hi for lo, hi in
               (median_ci(rng.exponential(size=25), level=0.9) for _ in range(1000)))
    assert hits / 1000 >= 0.88  # coverage is >= 90 % by construction; 0.88 leaves sampling slack


def test_rel_ci_and_noise_flag():
    tight = summarize([1.0] * 20)
    assert tight["rel_ci"] == 0.0 and tight["noisy"] is False
    noisy = summarize([1.0, 1.0, 2.0, 2.0, 1.0, 2.0, 1.0, 2.0])
    assert noisy["noisy"] is True
    assert noisy["rel_ci"] == pytest.approx((2.0 - 1.0) / (2 * 1.5))


def test_empty_samples_summarize_to_nothing():
    assert summarize([]) == {}
