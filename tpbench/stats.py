"""Statistics of timing samples: pure functions on lists of milliseconds.

The centre is the median; its spread the interquartile range (IQR). The
confidence interval of the median is distribution-free: with ``n`` samples
sorted, the ranks ``j < k`` are the narrowest symmetric pair with

    P(X_(j) <= median <= X_(k)) = sum_{i=j}^{k-1} C(n, i) / 2^n >= level

(the binomial order-statistic interval). A case is *noisy* when
``IQR / median > 10 %``.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats as sps

NOISE_THRESHOLD = 0.10


def median_ci(samples: Sequence[float], level: float = 0.99) -> tuple[float, float]:
    """Distribution-free confidence interval of the median (order statistics)."""
    x = np.sort(np.asarray(samples, dtype=float))
    n = len(x)
    if n == 0:
        return math.nan, math.nan
    # Smallest j (0-based) such that [x_j, x_{n-1-j}] still covers the median with `level`.
    j = int(sps.binom.ppf((1 - level) / 2, n, 0.5)) - 1
    j = max(j, 0)
    while j > 0 and sps.binom.cdf(n - 1 - j, n, 0.5) - sps.binom.cdf(j - 1, n, 0.5) < level:
        j -= 1
    return float(x[j]), float(x[n - 1 - j])


def summarize(samples: Sequence[float], level: float = 0.99) -> dict[str, float]:
    """Median, IQR, min, mean, the ``level`` CI of the median and its relative half-width."""
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        return {}
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    lo, hi = median_ci(x, level)
    return {
        "median_ms": float(med),
        "iqr_ms": float(q3 - q1),
        "min_ms": float(x.min()),
        "mean_ms": float(x.mean()),
        "ci_low_ms": lo,
        "ci_high_ms": hi,
        "rel_ci": float((hi - lo) / (2 * med)) if med > 0 else math.nan,
        "n_samples": int(x.size),
        "noisy": bool(med > 0 and (q3 - q1) / med > NOISE_THRESHOLD),
    }
