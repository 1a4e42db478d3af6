"""The report's tables as plain lists of dicts (the template renders and escapes them).

Each function takes the tidy cases of ``tpbench.views.report.data`` and returns rows
whose values are strings or numbers; an empty list means "no data".
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from tpbench.spec import passes
from tpbench.views.ranking import ranked
from tpbench.views.report.data import FAILED, Runs

def winners(runs: Runs) -> list[dict[str, Any]]:
    """Per machine, problem and pass: the fastest correct kernel and its margin over the next."""
    rows = []
    for key, group in ranked(runs.cases):
        best = group.drop_duplicates("series")
        first = best.iloc[0]
        row = dict(key, device=first["device"], winner=first["series"], family=first["family"],
                   median_ms=first["median_ms"], runner_up="—", next_ms=math.nan, margin=math.nan,
                   work=work_note(first, None), n_kernels=len(best))
        if len(best) > 1:
            second = best.iloc[1]
            row.update(runner_up=second["series"], next_ms=second["median_ms"],
                       margin=second["median_ms"] / first["median_ms"], work=work_note(first, second))
        rows.append(row)
    return sorted(rows, key=lambda r: (r["machine"], r["problem_label"], passes.order(r["pass"])))


def work_note(first: pd.Series, second: pd.Series | None) -> str:
    """'same' or how many paths the winner and the runner-up compute when they differ (same work or say so)."""
    mine = set(first["paths"]) if isinstance(first["paths"], list) else None
    if second is None:
        return f"{len(mine)} paths" if mine is not None else ""
    theirs = set(second["paths"]) if isinstance(second["paths"], list) else None
    if mine is None or theirs is None:
        return "paths not recorded"
    model = ""
    if isinstance(first.get("changes_model"), str) and first.get("changes_model") and not (
            isinstance(second.get("changes_model"), str) and second.get("changes_model")):
        model = "; changes the model: " + first["changes_model"]
    if mine == theirs:
        return "same" + model
    return f"differ: {len(mine)} vs {len(theirs)}" + model


def speedups(runs: Runs, baseline: str) -> dict[str, pd.DataFrame]:
    """Per pass: baseline median / kernel median (rows: kernels, columns: problems); > 1 is faster.

    Only cases on the same machine as the baseline's are compared.
    """
    ok = runs.ok
    key = ["machine", "problem_label", "pass"]
    # The baseline is a kernel name: its fastest run per machine/problem/pass, whatever the series label.
    base = ok[ok["kernel"] == baseline].groupby(key, as_index=False)["median_ms"].min()
    merged = ok[ok["kernel"] != baseline].merge(base.rename(columns={"median_ms": "base_ms"}), on=key)
    merged = merged.assign(speedup=merged["base_ms"] / merged["median_ms"])
    out = {}
    for pass_, group in merged.groupby("pass", sort=False):
        table = group.pivot_table(index="series", columns="problem_label", values="speedup", aggfunc="max")
        out[pass_] = table[sorted(table.columns, key=natural_key)]
    return {p: out[p] for p in sorted(out, key=lambda p: passes.order(p))}


def natural_key(text: str) -> list:
    """Sort 'L=10' after 'L=9': digit runs compare as numbers."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", str(text))]


def default_baseline(runs: Runs) -> str | None:
    """The kernel to compare against when none is named: e3nn's full CG if present, else the most measured."""
    counts = runs.ok["kernel"].value_counts()
    if counts.empty:
        return None
    for preferred in ("e3nn-cg-full", "e3nn-cg-channelwise"):
        if preferred in counts.index:
            return preferred
    return str(counts.index[0])


def failures(runs: Runs) -> list[dict[str, Any]]:
    """Every case that was not timed, or failed its gate, with its reason."""
    c = runs.cases
    bad = c[c["status"] != "ok"]
    cols = ["run_id", "status", "kernel", "problem_label", "pass", "variant", "device", "reason"]
    order = {s: i for i, s in enumerate(("incorrect", "error", "timeout", "oom", "unavailable", "skipped"))}
    bad = bad.assign(_o=bad["status"].map(lambda s: order.get(s, 9))).sort_values(["_o", "kernel"])
    return bad[cols].fillna("").to_dict("records")


def failure_summary(runs: Runs) -> list[dict[str, Any]]:
    """Untimed cases grouped by status and reason ("no valid path" once, not once per kernel),
    with the kernels and problems each group covers."""
    bad = runs.cases[runs.cases["status"] != "ok"].fillna({"reason": ""})
    if bad.empty:
        return []

    def listing(values, limit):
        names = sorted(set(map(str, values)))
        return ", ".join(names[:limit]) + (f" … ({len(names)} in all)" if len(names) > limit else "")

    grouped = bad.groupby(["status", "reason"], sort=False).agg(
        cases=("status", "size"), kernels=("kernel", lambda s: listing(s, 6)),
        problems=("problem_label", lambda s: listing(s, 4)))
    order = {s: i for i, s in enumerate(("incorrect", "error", "timeout", "oom", "unavailable", "skipped"))}
    rows = grouped.reset_index().to_dict("records")
    return sorted(rows, key=lambda r: (order.get(r["status"], 9), -r["cases"]))


def status_counts(runs: Runs) -> list[dict[str, Any]]:
    """How many cases ended in each status, per run."""
    c = runs.cases
    if c.empty:
        return []
    table = c.groupby(["run_id", "status"]).size().unstack(fill_value=0)
    cols = [s for s in ("ok", *FAILED) if s in table.columns] + [s for s in table.columns
                                                               if s not in ("ok", *FAILED)]
    return [dict(run_id=run, **{s: int(row[s]) for s in cols}) for run, row in table[cols].iterrows()]


def errors(runs: Runs) -> list[dict[str, Any]]:
    """Worst forward/gradient error and equivariance error per kernel, dtype and pass."""
    c = runs.cases.dropna(subset=["rel_error"], how="all")
    if c.empty:
        return []
    tol = pd.to_numeric(c["tolerances"].map(lambda t: t.get("equivariance") if isinstance(t, dict) else None),
                        errors="coerce")
    exact = c["exactly_equivariant"] if "exactly_equivariant" in c else pd.Series(None, index=c.index)
    # Runs from before the flag was recorded: an ok case above its equivariance tolerance was not gated on it.
    measured = pd.to_numeric(c["equivariance_error"], errors="coerce")
    approx = (exact == False) | (exact.isna() & (c["status"] == "ok") & (measured > tol))  # noqa: E712
    c = c.assign(_tol=tol, _approx=approx)
    agg = c.groupby(["series", "symmetry", "dtype", "pass"], dropna=False).agg(
        cases=("status", "size"), incorrect=("status", lambda s: int((s == "incorrect").sum())),
        max_rel_error=("rel_error", "max"), max_equivariance_error=("equivariance_error", "max"),
        tolerance=("_tol", "max"), approximate=("_approx", "any"))
    agg["equivariance"] = [f"approximate: measured, not gated (exact kernels: {t:.0e})" if a
                           else (f"≤ {t:.0e}" if t == t and t is not None else "")
                           for a, t in zip(agg["approximate"], agg["tolerance"])]
    return agg.reset_index().drop(columns=["tolerance", "approximate"]).fillna("").to_dict("records")


def expressivity(runs: Runs) -> list[dict[str, Any]]:
    """Expressivity, interactability and the Hom upper bound per kernel and problem."""
    c = runs.cases.dropna(subset=["expressivity", "interactability", "upper_bound"], how="all")
    if c.empty:
        return []
    c = c.drop_duplicates(["series", "problem_label"]).copy()
    c["missed"] = c["paths_missed"].map(lambda p: ", ".join(map(str, p)) if isinstance(p, list) else "")
    cols = ["problem_label", "series", "family", "symmetry", "expressivity", "interactability",
            "upper_bound", "missed"]
    return c.sort_values(["problem_label", "series"])[cols].to_dict("records")


def memory(runs: Runs) -> list[dict[str, Any]]:
    """Peak memory per correct case, largest first: GPU memory above the baseline, or on a CPU the
    case's peak resident memory (the isolated worker's ``VmHWM``)."""
    c = runs.ok.dropna(subset=["peak_memory_mb", "peak_rss_mb"], how="all")
    cols = ["machine", "problem_label", "pass", "series", "peak_memory_mb", "peak_rss_mb", "median_ms"]
    order = c["peak_memory_mb"].fillna(c["peak_rss_mb"])
    return c.assign(_order=order).sort_values("_order", ascending=False)[cols].to_dict("records")
