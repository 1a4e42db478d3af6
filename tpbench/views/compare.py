"""Compare two runs case by case: ratio of medians, a significance test, and a label.

For each case (kernel × problem × pass × variant × device) timed in both runs,
``ratio = median_B / median_A`` (> 1: B is slower). The label is

* ``same``      — the effect ``max(ratio, 1/ratio) - 1`` is below the threshold;
* ``slower`` / ``faster`` — the effect reaches the threshold *and* the
  difference is significant;
* ``ambiguous`` — the effect reaches the threshold but is not significant.

The threshold is set by the noise between runs of the same code, which a
machine's drift dominates (2-4× over minutes on a shared host): samples and
repetitions within one run are too alike to show it, and with 4 vs 4
repetitions a drift that separates them completely already gives the smallest
Mann–Whitney p (0.029). So every verdict is measured against ``sigma``, the
standard deviation of ``log(ratio)`` between two runs of the same code, taken
as the largest of what the runs hold:

* **repetitions** (at least 2 per side): the spread of one repetition's log
  median within a run, pooled over all cases (1.4826 × MAD) and the case's own
  (pooled within each run), times ``sqrt(1/n_A + 1/n_B)``;
* **spread across cases** (at least ``MIN_CASES`` compared): 1.4826 × the MAD
  of ``log(ratio)`` over all cases, around its median — how far the runs
  disagree case by case (a real change in a few cases does not move it much);

and ``threshold = max(min_effect, exp(K_SIGMA × sigma) - 1)`` (``2 × min_effect``
with one repetition), the test a z test of ``log(ratio) / sigma`` at ``alpha``.
``K_SIGMA = 4`` is calibrated on A/A pairs (``benchmarks/compare_aa.py``): at
most 1 % false faster/slower verdicts.

* **One repetition and too few cases** to estimate ``sigma``: the Mann–Whitney
  U test on the raw samples and disjoint 99 % confidence intervals of the
  medians, with threshold ``max(2 × min_effect, rel_IQR_A + rel_IQR_B)``.
* **No samples recorded**: no test is possible; effects above the threshold
  are ``ambiguous``.

Cases not comparable (missing from one run, or not "ok" in one) are listed
with their statuses and never labelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

from tpbench.measure.stats import median_ci
from tpbench.results.store import as_dict, open_run

MIN_REPEATS = 3
# A change is labelled faster/slower only beyond K_SIGMA standard deviations of run-to-run noise.
# Calibrated on A/A pairs (benchmarks/compare_aa.py): the 99th percentile of |log ratio| / sigma
# between pseudo-runs of one run was 3.5-3.7, so 4 keeps false verdicts under 1 % of cases.
K_SIGMA = 4.0
# Fewest cases for a pooled noise or cross-case drift estimate.
MIN_CASES = 8
KEY = ("kernel", "problem_id", "pass", "variant", "device")
LABEL_ORDER = {"slower": 0, "faster": 1, "ambiguous": 2, "same": 3}


@dataclass
class Evidence:
    """What one run holds about one case: per-repetition medians and the pooled raw samples."""

    medians: list[float]
    samples: list[float]
    rel_iqr: float

    @property
    def median(self) -> float:
        return float(np.median(self.medians)) if self.medians else math.nan


@dataclass
class CaseResult:
    key: dict[str, Any]
    median_a: float
    median_b: float
    ratio: float
    p_value: float
    threshold: float
    method: str
    label: str


@dataclass
class Comparison:
    run_a: str
    run_b: str
    rows: list[CaseResult]
    unmatched: list[dict[str, Any]]
    machine_warnings: list[str] = field(default_factory=list)
    load_warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {label: 0 for label in LABEL_ORDER}
        for row in self.rows:
            out[row.label] += 1
        return out

    @property
    def status_changes(self) -> list[dict[str, Any]]:
        """Cases in both runs whose status differs (e.g. ok in A, error in B)."""
        return [u for u in self.unmatched
                if "missing" not in (u["status_a"], u["status_b"]) and u["status_a"] != u["status_b"]]

    def regressions(self, percent: float) -> list[CaseResult]:
        """Significant slowdowns of more than ``percent`` %."""
        return [r for r in self.rows if r.label == "slower" and r.ratio > 1 + percent / 100]


def evidence(records: list[dict[str, Any]]) -> Evidence:
    """Per-repetition medians and pooled samples of one case's lines in one run."""
    medians, samples, rel_iqrs = [], [], []
    for rec in records:
        repeats = [float(x) for x in _list(rec.get("repeat_medians_ms")) if _positive(x)]
        raw = [float(x) for x in _list(rec.get("samples_ms")) if _positive(x)]
        median = _number(rec.get("median_ms"))
        if repeats:
            medians += repeats
        elif raw or median:
            medians.append(float(np.median(raw)) if raw else median)
        samples += raw
        iqr = _number(rec.get("iqr_ms"))
        if iqr is not None and median:
            rel_iqrs.append(iqr / median)
    return Evidence(medians, samples, max(rel_iqrs, default=0.0))


def judge(a: Evidence, b: Evidence, min_effect: float = 0.05, alpha: float = 0.05,
          noise: float | None = None, drift: float | None = None) -> tuple[float, float, str, str]:
    """(p-value, threshold, method, label) for one case; see the module docstring.

    ``noise``: the pooled standard deviation of one repetition's log median within a run
    (:func:`pooled_noise`); ``drift``: the robust spread of log ratios across all cases of the
    comparison (:func:`cross_case_drift`). Either may be None when the runs cannot estimate it.
    """
    ratio = b.median / a.median
    effect = max(ratio, 1 / ratio) - 1
    n_a, n_b = len(a.medians), len(b.medians)
    sigma, sources = 0.0, []
    if n_a >= 2 and n_b >= 2:
        la, lb = np.log(a.medians), np.log(b.medians)
        # The case's own repetition spread: within each run, pooled (the shift between runs is left out).
        own = math.sqrt((((la - la.mean()) ** 2).sum() + ((lb - lb.mean()) ** 2).sum()) / (n_a + n_b - 2))
        per_rep = max(own, noise or 0.0)
        sigma = per_rep * math.sqrt(1 / n_a + 1 / n_b)
        sources.append(f"{n_a}/{n_b} repeats")
    if drift is not None and drift > sigma:
        sigma = drift
        sources.append("spread across cases")
    if sigma > 0 or drift is not None:
        floor = min_effect if n_a >= 2 and n_b >= 2 else 2 * min_effect
        threshold = max(floor, math.exp(K_SIGMA * sigma) - 1)
        z = abs(math.log(ratio)) / sigma if sigma > 0 else math.inf
        p = float(2 * sps.norm.sf(z))
        method, significant = f"z on log medians ({', '.join(sources)})", p < alpha
    elif len(a.samples) >= 2 and len(b.samples) >= 2:
        p = float(sps.mannwhitneyu(a.samples, b.samples, alternative="two-sided").pvalue)
        threshold = max(2 * min_effect, a.rel_iqr + b.rel_iqr)
        method, significant = "U test on samples, 1 repeat", p < alpha and disjoint(a.samples, b.samples)
    else:
        p, threshold, method, significant = math.nan, max(2 * min_effect, a.rel_iqr + b.rel_iqr), "no samples", False
    if effect < threshold:
        label = "same"
    elif significant:
        label = "slower" if ratio > 1 else "faster"
    else:
        label = "ambiguous"
    return p, threshold, method, label


def pooled_noise(pairs: list[tuple[Evidence, Evidence]]) -> float | None:
    """Standard deviation of one repetition's log median within a run, pooled over every case with at
    least two repetitions in a run: 1.4826 × the median absolute deviation of the log medians from
    their case's (per run) mean, scaled for the mean's own spread with n repetitions."""
    deviations = []
    for a, b in pairs:
        for ev in (a, b):
            n = len(ev.medians)
            if n >= 2:
                logs = np.log(ev.medians)
                deviations += list((logs - logs.mean()) * math.sqrt(n / (n - 1)))
    if len(deviations) < MIN_CASES:
        return None
    return float(1.4826 * np.median(np.abs(deviations)))


def cross_case_drift(pairs: list[tuple[Evidence, Evidence]]) -> float | None:
    """Robust spread (1.4826 × MAD) of log(median_B / median_A) across the compared cases: how far two
    runs of the same code disagree case by case on this machine. Its median is left out (a uniform
    shift of every case is reported, not absorbed). None with fewer than MIN_CASES cases."""
    logs = np.array([math.log(b.median / a.median) for a, b in pairs])
    if len(logs) < MIN_CASES:
        return None
    return float(1.4826 * np.median(np.abs(logs - np.median(logs))))


def relative_iqr(x: list[float]) -> float:
    """Interquartile range over median: the spread of repetition medians within one run."""
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    return float((q3 - q1) / med) if med > 0 else 0.0


def disjoint(x: list[float], y: list[float]) -> bool:
    """Whether the 99 % confidence intervals of the two medians do not overlap."""
    lo_x, hi_x = median_ci(x)
    lo_y, hi_y = median_ci(y)
    return hi_x < lo_y or hi_y < lo_x


def compare_records(records_a: list[dict[str, Any]], records_b: list[dict[str, Any]], *,
                    min_effect: float = 0.05, alpha: float = 0.05) -> tuple[list[CaseResult], list[dict[str, Any]]]:
    """Labelled results for cases ok in both, and the cases that could not be compared."""
    groups_a, groups_b = _group(records_a), _group(records_b)
    rows, unmatched, compared = [], [], []
    for key in sorted(set(groups_a) | set(groups_b), key=lambda k: tuple(str(v) for v in k)):
        ok_a = [r for r in groups_a.get(key, []) if r.get("status") == "ok"]
        ok_b = [r for r in groups_b.get(key, []) if r.get("status") == "ok"]
        a, b = evidence(ok_a), evidence(ok_b)
        names = {**dict(zip(KEY, key)), "problem_label": _label(groups_a.get(key) or groups_b.get(key))}
        if not (a.median > 0 and b.median > 0):
            unmatched.append({**names, "status_a": _statuses(groups_a.get(key)),
                              "status_b": _statuses(groups_b.get(key))})
            continue
        compared.append((names, a, b))
    pairs = [(a, b) for _, a, b in compared]
    noise, drift = pooled_noise(pairs), cross_case_drift(pairs)
    for names, a, b in compared:
        p, threshold, method, label = judge(a, b, min_effect, alpha, noise=noise, drift=drift)
        rows.append(CaseResult(names, a.median, b.median, b.median / a.median, p, threshold, method, label))
    rows.sort(key=lambda r: (LABEL_ORDER[r.label], -abs(math.log(r.ratio))))
    return rows, unmatched


def machine_differences(manifest_a: dict[str, Any], manifest_b: dict[str, Any]) -> list[str]:
    """Warnings when the two runs did not run on the same kind of machine."""
    env_a, env_b = as_dict(manifest_a.get("environment")), as_dict(manifest_b.get("environment"))
    fields = {"hostname": (env_a.get("hostname"), env_b.get("hostname")),
              "CPU": (env_a.get("cpu"), env_b.get("cpu")),
              "GPU": (_gpus(env_a), _gpus(env_b)),
              "device": (manifest_a.get("device"), manifest_b.get("device")),
              "torch": (as_dict(env_a.get("packages")).get("torch"), as_dict(env_b.get("packages")).get("torch"))}
    return [f"the runs differ in {name}: {a!r} vs {b!r}" for name, (a, b) in fields.items() if a != b]


def _group(records: list[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for rec in records:
        problem = rec.get("problem_id") or rec.get("problem_label")
        key = tuple(str(v) if v is not None else "" for v in (rec.get("kernel"), problem, rec.get("pass"),
                                                              rec.get("variant") or "eager", rec.get("device")))
        groups.setdefault(key, []).append(rec)
    return groups


def _label(records: list[dict[str, Any]]) -> str:
    return str(records[0].get("problem_label") or records[0].get("problem_id"))


def _statuses(records: list[dict[str, Any]] | None) -> str:
    return ", ".join(sorted({str(r.get("status")) for r in records})) if records else "missing"


def _gpus(env: dict[str, Any]) -> str:
    gpus = env.get("gpus") if isinstance(env.get("gpus"), list) else []
    return ", ".join(str(as_dict(g).get("name")) for g in gpus)


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _positive(value: Any) -> bool:
    number = _number(value)
    return number is not None and number > 0


def compare_runs(ref_a: str, ref_b: str, root: str = "results", *, min_effect: float = 0.05,
                 alpha: float = 0.05) -> Comparison:
    """Load two runs (bad lines become warnings) and compare them."""
    a, b = open_run(ref_a, root), open_run(ref_b, root)
    rows, unmatched = compare_records(a.records, b.records, min_effect=min_effect, alpha=alpha)
    return Comparison(a.run_id, b.run_id, rows, unmatched, machine_differences(a.manifest, b.manifest),
                      list(dict.fromkeys(a.warnings + b.warnings)))
