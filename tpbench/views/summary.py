"""Terminal summaries of a run: the best correct kernel per problem and pass."""

from __future__ import annotations

import pandas as pd

from tpbench.spec import passes
from tpbench.views.ranking import GROUP, ranked


def best_per_problem(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (problem, pass) — per machine too when a run spans several: the fastest ``ok`` kernel,
    its median, the runner-up and the margin (:func:`tpbench.views.ranking.ranked`).

    Only correct (``ok``) cases are ranked; ``incorrect`` counts how many kernels
    failed the gate on that problem and pass.
    """
    if df.empty or "status" not in df:
        return pd.DataFrame()
    df = df.assign(machine=df["machine"].fillna("") if "machine" in df else "")
    mixed = df["machine"].nunique() > 1
    fastest = {tuple(group.values()): cases for group, cases in ranked(df)}
    rows = []
    for (machine, label, pass_), group in df.groupby(list(GROUP), sort=False, dropna=False):
        ok = fastest.get((machine, label, pass_), group.iloc[0:0])
        row = {**({"machine": machine} if mixed else {}), "problem": label, "pass": pass_, "kernels ok": len(ok),
               "incorrect": int((group["status"] == "incorrect").sum())}
        if not len(ok) and "reason" in group:
            # Say why nothing ran (e.g. "no valid path") rather than leaving a blank.
            row["best"] = f"none: {group['reason'].mode().iloc[0]}" if group["reason"].notna().any() else "none"
        if len(ok):
            best = ok.iloc[0]
            row.update(best=best["kernel"], median_ms=best["median_ms"])
            if len(ok) > 1:
                row.update(runner_up=ok.iloc[1]["kernel"], margin=ok.iloc[1]["median_ms"] / best["median_ms"])
        rows.append(row)
    out = pd.DataFrame(rows)
    return out.sort_values(["problem", "pass"], key=lambda s: s.map(passes.order) if s.name == "pass" else s,
                           kind="stable").reset_index(drop=True)


def status_counts(df: pd.DataFrame) -> pd.Series:
    return df["status"].value_counts() if "status" in df else pd.Series(dtype=int)


def not_run(df: pd.DataFrame) -> pd.DataFrame:
    """Cases that were not timed, with their reasons (deduplicated across passes)."""
    if df.empty:
        return df
    bad = df[df["status"] != "ok"]
    cols = [c for c in ("kernel", "problem_label", "status", "reason") if c in bad]
    return bad[cols].drop_duplicates(subset=[c for c in ("kernel", "problem_label", "status") if c in cols])
