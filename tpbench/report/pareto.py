"""Expressivity and interactability against runtime, with the Pareto front.

A kernel is on the front of a problem when no other kernel is both at least as
fast and at least as expressive (and strictly better in one). Values only
compare within one problem, so there is one panel per problem.
"""

from __future__ import annotations

import pandas as pd

from tpbench.report.data import PASS_ORDER
from tpbench.report.plotting import MAX_PANELS, STYLE, Figure, Palette, encode, grid, legend, plain, plt


def front(points: pd.DataFrame, y: str) -> pd.DataFrame:
    """Non-dominated rows (minimal median_ms, maximal ``y``), sorted by runtime."""
    best = float("-inf")
    keep = []
    for index, row in points.sort_values(["median_ms", y], ascending=[True, False]).iterrows():
        if row[y] > best:
            keep.append(index)
            best = row[y]
    return points.loc[keep]


def pareto(cases: pd.DataFrame, y: str, palette: Palette) -> list[Figure]:
    data = cases.dropna(subset=[y, "median_ms"])
    if data.empty:
        return []
    # One pass per problem (the first recorded) keeps runtimes comparable within a panel.
    data = data.assign(_p=data["pass"].map(lambda p: PASS_ORDER.get(p, 9)))
    first = data.groupby(["machine", "problem_label"])["_p"].transform("min")
    data = data[data["_p"] == first]
    groups = [(k, g) for k, g in data.groupby(["machine", "problem_label", "pass"]) if g["series"].nunique() >= 2]
    if not groups:
        return []
    shown = groups[:MAX_PANELS]
    with plt.rc_context(STYLE):
        fig, axes = grid(len(shown))
        for ax, (key, group) in zip(axes, shown):
            points = group.groupby("series", as_index=False).agg(median_ms=("median_ms", "min"), **{y: (y, "max")})
            for _, row in points.iterrows():
                color, marker = palette(row["series"])
                ax.scatter(row["median_ms"], row[y], color=color, marker=marker, s=30, label=plain(row["series"]))
            edge = front(points, y)
            ax.step(edge["median_ms"], edge[y], where="post", color="black", lw=1, alpha=0.6, label="Pareto front")
            ax.set(xscale="log", xlabel="median runtime (ms)", ylabel=y, title=plain(" · ".join(key), 70))
        legend(fig, axes)
        note = f" (first {MAX_PANELS} of {len(groups)} problems)" if len(groups) > MAX_PANELS else ""
        return [Figure(f"{y.capitalize()} against runtime{note}", encode(fig), f"{y} against runtime")]
