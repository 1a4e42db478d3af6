"""Terminal summaries of a run: the best correct kernel per problem and pass."""

from __future__ import annotations

import pandas as pd

PASS_ORDER = {"fwd": 0, "fwd+bwd": 1, "fwd+bwd+bwd": 2}


def best_per_problem(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (problem, pass): the fastest ``ok`` kernel, its median, the runner-up and the margin.

    Only correct (``ok``) cases are ranked; ``incorrect`` counts how many kernels
    failed the gate on that problem and pass.
    """
    if df.empty or "status" not in df:
        return pd.DataFrame()
    if "median_ms" not in df:  # no case was timed: nothing to rank, only reasons to give
        df = df.assign(median_ms=float("nan"))
    rows = []
    for (label, pass_), group in df.groupby(["problem_label", "pass"], sort=False):
        ok = group[group["status"] == "ok"].sort_values("median_ms")
        row = {"problem": label, "pass": pass_, "kernels ok": len(ok),
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
    return out.sort_values(["problem", "pass"], key=lambda s: s.map(PASS_ORDER) if s.name == "pass" else s,
                           kind="stable").reset_index(drop=True)


def status_counts(df: pd.DataFrame) -> pd.Series:
    return df["status"].value_counts() if "status" in df else pd.Series(dtype=int)


def why_nothing_passed(df: pd.DataFrame) -> list[str]:
    """When no case is ``ok``: one line per (status, reason), most frequent first, with its count."""
    if df.empty or "status" not in df:
        return ["the run holds no case"]
    reasons = df["reason"].fillna("no reason recorded") if "reason" in df else pd.Series("", index=df.index)
    grouped = pd.DataFrame({"status": df["status"], "reason": reasons}).value_counts()
    return [f"{n} {status}: {reason}".rstrip(": ") for (status, reason), n in grouped.items()]


def not_run(df: pd.DataFrame) -> pd.DataFrame:
    """Cases that were not timed, with their reasons (deduplicated across passes)."""
    if df.empty:
        return df
    bad = df[df["status"] != "ok"]
    cols = [c for c in ("kernel", "problem_label", "status", "reason") if c in bad]
    return bad[cols].drop_duplicates(subset=[c for c in ("kernel", "problem_label", "status") if c in cols])
