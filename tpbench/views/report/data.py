"""Runs loaded for reporting: cases as one tidy DataFrame, manifests, and load warnings.

Every field of a case line may be missing (older or newer runs) and every string
is untrusted: columns are created when absent, numbers are coerced (bad values
become NaN) and text is only ever rendered escaped. Lines the store rejects
(truncated, newer schema) become ``warnings`` shown at the top of the report.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

from tpbench.metrics.expressivity import add_normalised_runtime
from tpbench.results.store import frame, open_run
from tpbench.views.ranking import is_stub

NUMERIC = ("median_ms", "iqr_ms", "min_ms", "mean_ms", "ci_low_ms", "ci_high_ms", "rel_ci", "n_samples",
           "batch", "threads", "rel_error", "equivariance_error", "flops", "bytes", "gflops_per_s",
           "gbytes_per_s", "arithmetic_intensity", "peak_memory_mb", "expressivity", "interactability",
           "upper_bound", "build_s", "gate_s", "inner_loops", "peak_rss_mb")
TEXT = ("kernel", "backend", "family", "operation", "symmetry", "layout", "effective_method", "problem_id",
        "problem_label", "problem_family", "dtype", "device", "pass", "variant", "status", "reason", "timer",
        "run_id", "stub_of", "changes_model")
NESTED = ("problem", "params", "errors", "tolerances", "output_variance", "paths", "paths_missed", "samples_ms")
FAILED = ("skipped", "unavailable", "incorrect", "error", "timeout", "oom")


@dataclass
class Runs:
    """What a report is built from."""

    cases: pd.DataFrame
    manifests: dict[str, dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> pd.DataFrame:
        """Correct, timed cases with a usable median (stubs left out: they are never compared)."""
        c = self.cases
        return c[(c["status"] == "ok") & (c["median_ms"] > 0) & np.isfinite(c["median_ms"]) & ~is_stub(c)]


def load(refs: Iterable[str], root: str = "results") -> Runs:
    """Load runs; the store's warnings (bad lines skipped) become report warnings."""
    runs = [open_run(ref, root) for ref in refs]
    cases = frame(runs)
    if {"median_ms", "expressivity", "interactability"} <= set(cases.columns):
        cases = add_normalised_runtime(cases)
    manifests = {run.run_id: run.manifest for run in runs}
    return Runs(tidy(cases, manifests), manifests, list(dict.fromkeys(w for run in runs for w in run.warnings)))


def tidy(cases: pd.DataFrame, manifests: dict[str, dict[str, Any]] | None = None) -> pd.DataFrame:
    """Missing columns added, numbers coerced, labels and sweep parameters derived."""
    cases = cases.copy()
    for col in NUMERIC:
        cases[col] = pd.to_numeric(cases[col], errors="coerce") if col in cases else float("nan")
    for col in TEXT:
        cases[col] = cases[col].map(text) if col in cases else None
    for col in NESTED:
        if col not in cases:
            cases[col] = None
    cases["params"] = cases["params"].map(lambda p: p if isinstance(p, dict) else {})
    for name in ("L", "mul", "L_hidden", "L_sh"):
        cases[f"param_{name}"] = pd.to_numeric(cases["params"].map(lambda p, n=name: p.get(n)), errors="coerce")
    cases["problem_label"] = cases["problem_label"].fillna(cases["problem_id"]).fillna("?")
    cases["kernel"] = cases["kernel"].fillna("?")
    cases["status"] = cases["status"].fillna("?")
    cases["pass"] = cases["pass"].fillna("?")
    names = cases["run_id"].map(lambda r: machine_name((manifests or {}).get(r, {})))
    fingerprints = cases["machine"].fillna("").astype(str) if "machine" in cases else pd.Series("", index=cases.index)
    mixed = fingerprints.groupby(cases["run_id"]).transform("nunique") > 1  # a run merged --allow-mixed
    cases["machine"] = names.where(~mixed, names + " · " + fingerprints)
    cases["series"] = series_labels(cases)
    return cases.reset_index(drop=True)


def text(value: Any) -> str | None:
    """A cell as plain text (None stays None); the template escapes it."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


def series_labels(cases: pd.DataFrame) -> pd.Series:
    """One line per label in plots: the kernel, its variant unless plain eager, and the run id
    when several runs of one report timed on the same machine (so they are not merged)."""
    variant = cases["variant"].fillna("eager")
    label = cases["kernel"].astype(object)
    label = label.where(variant == "eager", label + " [" + variant + "]")
    runs_per_machine = cases.groupby("machine")["run_id"].transform("nunique")
    return label.where(runs_per_machine <= 1, label + " (" + cases["run_id"].fillna("?") + ")")


def machine_name(manifest: dict[str, Any]) -> str:
    """The device a run timed on, as a person names it: GPU model on CUDA, CPU model otherwise."""
    env = manifest.get("environment") if isinstance(manifest.get("environment"), dict) else {}
    gpus = env.get("gpus") if isinstance(env.get("gpus"), list) else []
    if manifest.get("device") == "cuda" and gpus and isinstance(gpus[0], dict) and gpus[0].get("name"):
        return str(gpus[0]["name"])
    return str(env.get("cpu") or manifest.get("device") or "unknown device")
