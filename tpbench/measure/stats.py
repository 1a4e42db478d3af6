"""Statistics of timing samples: pure functions on lists of milliseconds.

The centre is the median; its spread the interquartile range (IQR). The
confidence interval of the median is distribution-free: with ``n`` samples
sorted, the 1-based ranks ``j < k = n + 1 - j`` are the narrowest symmetric pair with

    P(X_(j) <= median <= X_(k)) = sum_{i=j}^{k-1} C(n, i) / 2^n >= level

(the binomial order-statistic interval; see :func:`median_ci`). A case is *noisy* when
``IQR / median > 10 %``.
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import numpy as np
from scipy import stats as sps

NOISE_THRESHOLD = 0.10


def median_ci(samples: Sequence[float], level: float = 0.99) -> tuple[float, float]:
    """Distribution-free confidence interval of the median (order statistics).

    With ``B ~ Binomial(n, 1/2)`` the number of samples below the true median,
    the interval ``[x_(a), x_(n-1-a)]`` (0-based ranks of the sorted samples)
    covers the median with probability ``P(a < B <= n-1-a) = 1 - 2 F(a)``,
    ``F`` the binomial CDF. The narrowest such interval at ``level`` takes the
    largest ``a`` with ``F(a) <= (1 - level) / 2``. With too few samples for
    ``level`` (``2^(1-n) > 1 - level``) the widest interval, ``[min, max]``, is
    returned.
    """
    x = np.sort(np.asarray(samples, dtype=float))
    n = len(x)
    if n == 0:
        return math.nan, math.nan
    a = ci_rank(n, level)
    return float(x[a]), float(x[n - 1 - a])


@functools.lru_cache(maxsize=4096)
def ci_rank(n: int, level: float) -> int:
    """The 0-based lower rank ``a`` of :func:`median_ci` (cached: the timer asks after every sample)."""
    alpha = (1 - level) / 2
    # ppf gives the smallest a with F(a) >= alpha; step back while F(a) exceeds it.
    a = int(sps.binom.ppf(alpha, n, 0.5))
    while a >= 0 and sps.binom.cdf(a, n, 0.5) > alpha:
        a -= 1
    return min(max(a, 0), (n - 1) // 2)


def rel_ci(samples: Sequence[float], level: float = 0.99) -> float:
    """Relative half-width of the ``level`` CI of the median, ``(hi - lo) / (2 median)``; NaN while undefined."""
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        return math.nan
    lo, hi = median_ci(x, level)
    med = float(np.median(x))
    return float((hi - lo) / (2 * med)) if med > 0 else math.nan


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
        "rel_ci": rel_ci(x, level),
        "n_samples": int(x.size),
        "noisy": bool(med > 0 and (q3 - q1) / med > NOISE_THRESHOLD),
    }
