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
            row["caveat"] = "; ".join(filter(None, (fewer_paths(ok), changes_model(ok))))
        rows.append(row)
    out = pd.DataFrame(rows)
    return out.sort_values(["problem", "pass"], key=lambda s: s.map(passes.order) if s.name == "pass" else s,
                           kind="stable").reset_index(drop=True)


def path_count(case: pd.Series) -> int | None:
    """How many (l1, l2 -> l3) paths a case computes, from its recorded paths or expressivity."""
    paths = case.get("paths")
    if isinstance(paths, list):
        return len(paths)
    value = case.get("expressivity")
    return int(value) if value is not None and value == value else None


def fewer_paths(ok: pd.DataFrame) -> str:
    """The expressivity caveat for the fastest row of ``ok`` (sorted): "14 of 19 paths"
    when another correct kernel on the problem computes more paths, else ""."""
    counts = [path_count(r) for _, r in ok.iterrows()]
    known = [c for c in counts if c is not None]
    if counts[0] is None or not known or counts[0] >= max(known):
        return ""
    return f"{counts[0]} of {max(known)} paths"


def changes_model(ok: pd.DataFrame) -> str:
    """"changes the model" when the fastest row of ``ok`` computes another model than another correct
    kernel of the problem (a model block with a Gaunt conv: ``changes_model`` recorded), else ""."""
    flags = [isinstance(v, str) and v != "" for v in (ok["changes_model"] if "changes_model" in ok else [])]
    if not flags or not flags[0] or all(flags):
        return ""
    return f"changes the model ({ok.iloc[0]['changes_model']})"


def common_suffix(labels: list[str]) -> str:
    """The trailing words every problem label shares (e.g. "batch=1000 float32"), to print once."""
    words = [label.split() for label in labels]
    if not words:
        return ""
    shared = []
    for column in zip(*(reversed(w) for w in words)):
        if len(set(column)) != 1:
            break
        shared.insert(0, column[0])
    if any(len(w) <= len(shared) for w in words):  # keep at least the family in each label
        shared = shared[1:] if shared else shared
    return " ".join(shared)


def kernel_ranks(df: pd.DataFrame, kernel: str) -> pd.DataFrame:
    """Where ``kernel`` ranks among the correct kernels of each problem and pass it ran on
    (:func:`tpbench.views.ranking.ranked`, per machine): its rank, median, its time over the best's,
    the best kernel, and its status when not ``ok``."""
    if df.empty or "status" not in df or kernel not in set(df["kernel"]):
        return pd.DataFrame()
    df = df.assign(machine=df["machine"].fillna("") if "machine" in df else "")
    mixed = df["machine"].nunique() > 1
    fastest = {tuple(group.values()): cases.reset_index(drop=True) for group, cases in ranked(df)}
    rows = []
    for (machine, label, pass_), group in df.groupby(list(GROUP), sort=False, dropna=False):
        mine = group[group["kernel"] == kernel]
        if mine.empty:
            continue
        ok = fastest.get((machine, label, pass_), group.iloc[0:0])
        row = {**({"machine": machine} if mixed else {}), "problem": label, "pass": pass_}
        case = mine.iloc[0]
        if isinstance(case.get("stub_of"), str) and case.get("stub_of"):
            row["rank"] = f"not ranked: a stub (the block without its {case['stub_of']}'s cost)"
        elif kernel not in set(ok["kernel"]):
            reason = case.get("reason")
            row["rank"] = f"{case['status']}" + (f": {reason}" if isinstance(reason, str) else "")
        else:
            place = int(ok.index[ok["kernel"] == kernel][0])
            row.update(rank=f"{place + 1} of {len(ok)}", median_ms=ok.iloc[place]["median_ms"],
                       vs_best=ok.iloc[place]["median_ms"] / ok.iloc[0]["median_ms"], best=ok.iloc[0]["kernel"])
            mine_paths, known = path_count(case), [c for c in map(path_count, (r for _, r in ok.iterrows()))
                                                    if c is not None]
            notes = [f"{mine_paths} of {max(known)} paths"] if mine_paths is not None and known and \
                mine_paths < max(known) else []
            if isinstance(case.get("changes_model"), str) and case.get("changes_model"):
                notes.append("changes the model")
            if notes:
                row["caveat"] = "; ".join(notes)
        rows.append(row)
    out = pd.DataFrame(rows)
    return out.sort_values(["problem", "pass"], key=lambda s: s.map(passes.order) if s.name == "pass" else s,
                           kind="stable").reset_index(drop=True) if len(out) else out


# Columns dropped first, in this order, when a table is wider than the terminal.
OPTIONAL = ("incorrect", "kernels ok", "runner_up", "margin")


def fit(table: pd.DataFrame, width: int, optional: tuple[str, ...] = OPTIONAL) -> str:
    """``table`` as text no wider than ``width``: optional columns dropped, then long cells shortened with "…".

    Text is left-aligned, numbers right-aligned with 4 significant digits, missing values blank.
    """
    cells = {c: [_cell(v) for v in table[c]] for c in table.columns}
    numeric = {c: pd.api.types.is_numeric_dtype(table[c]) for c in table.columns}

    def render(columns: list[str], limits: dict[str, int]) -> str:
        cut = {c: [v if len(v) <= limits.get(c, 10**6) else v[:limits[c] - 1] + "…" for v in cells[c]]
               for c in columns}
        sizes = {c: max([len(c), *map(len, cut[c])]) for c in columns}
        align = {c: (str.rjust if numeric[c] else str.ljust) for c in columns}
        lines = ["  ".join(align[c](c, sizes[c]) for c in columns)]
        lines += ["  ".join(align[c](cut[c][i], sizes[c]) for c in columns) for i in range(len(table))]
        return "\n".join(line.rstrip() for line in lines)

    def excess(text: str) -> int:
        return max(map(len, text.splitlines())) - width

    columns, limits = list(table.columns), {}
    text = render(columns, limits)
    for column in optional:
        if excess(text) <= 0:
            return text
        if column in columns and len(columns) > 2:
            columns.remove(column)
            text = render(columns, limits)
    # Then shorten the widest text column, a step at a time, down to 12 characters.
    while excess(text) > 0:
        sizes = {c: max(map(len, cells[c]), default=0) if c not in limits else limits[c]
                 for c in columns if not numeric[c]}
        column = max(sizes, key=sizes.get, default=None)
        if column is None or sizes[column] <= 12:
            break
        limits[column] = max(12, sizes[column] - excess(text))
        text = render(columns, limits)
    return text


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


STATUS_WORDS = {"ok": "timed", "skipped": "skipped", "unavailable": "unavailable", "incorrect": "incorrect",
                "error": "errors", "timeout": "timeouts"}


def case_counts(df: pd.DataFrame, top: int = 3) -> list[str]:
    """What a run holds, counted as a user means a case: kernel × problem × pass × variant, with its
    repetitions merged (``df`` as :func:`tpbench.results.store.load_runs` gives it).

    The first line counts cases by outcome ("792 cases: 180 timed, 370 skipped, 242 unavailable");
    then, for each outcome other than timed, its reasons grouped, the ``top`` most frequent with counts.
    """
    if df.empty or "status" not in df:
        return ["0 cases"]
    reps = int(df["repetitions"].max()) if "repetitions" in df and df["repetitions"].notna().any() else 1
    counts = df["status"].value_counts()
    order = [s for s in STATUS_WORDS if s in counts] + [s for s in counts.index if s not in STATUS_WORDS]
    head = f"{len(df)} cases" + (f" ({reps} repetitions each, merged)" if reps > 1 else "") + ": "
    lines = [head + ", ".join(f"{counts[s]} {STATUS_WORDS.get(s, s)}" for s in order)]
    for status in ("skipped", "unavailable", "incorrect", "error", "timeout"):
        if status not in counts:
            continue
        reasons = df.loc[df["status"] == status, "reason"].fillna("no reason recorded").value_counts() \
            if "reason" in df else pd.Series(dtype=int)
        lines.append(f"{STATUS_WORDS.get(status, status)}, by reason:")
        lines += [f"  {n:>5}  {reason}" for reason, n in reasons.iloc[:top].items()]
        rest = reasons.iloc[top:]
        if len(rest):
            lines.append(f"  {rest.sum():>5}  for {len(rest)} other reasons (`tpbench show --all` lists them)")
    return lines


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
