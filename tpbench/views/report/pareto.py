"""Expressivity and interactability against runtime, with the Pareto front.

A kernel is on the front of a problem when no other kernel is both at least as
fast and at least as expressive (and strictly better in one). Values only
compare within one problem, so there is one panel per problem; problems where
the kernels differ in the value come first, since those show a trade-off.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.ticker import MaxNLocator

from tpbench.spec import passes
from tpbench.views.report.plotting import STYLE, Figure, Palette, encode, grid, legend, log_axis, plain, plt

PANELS = 6


def front(points: pd.DataFrame, y: str) -> pd.DataFrame:
    """Non-dominated rows (minimal median_ms, maximal ``y``), sorted by runtime."""
    best = float("-inf")
    keep = []
    for index, row in points.sort_values(["median_ms", y], ascending=[True, False]).iterrows():
        if row[y] > best:
            keep.append(index)
            best = row[y]
    return points.loc[keep]


def panels(cases: pd.DataFrame, y: str) -> list[tuple[tuple, pd.DataFrame]]:
    """Per problem (first recorded pass only, so runtimes compare): one point per kernel."""
    data = cases.dropna(subset=[y, "median_ms"])
    data = data.assign(_p=data["pass"].map(lambda p: passes.order(p)))
    data = data[data["_p"] == data.groupby("problem_label")["_p"].transform("min")]
    out = []
    for key, group in data.groupby(["problem_label", "pass"], sort=True):
        points = group.groupby("series", as_index=False).agg(median_ms=("median_ms", "min"), **{y: (y, "max")})
        if len(points) >= 2:
            out.append((key, points))
    out.sort(key=lambda kp: (-kp[1][y].nunique(), -len(kp[1])))
    return out


def pareto(cases: pd.DataFrame, y: str, palette: Palette) -> list[Figure]:
    figures = []
    for machine, group in cases.groupby("machine", sort=True):
        found = panels(group, y)
        if not found:
            continue
        shown = found[:PANELS]
        with plt.rc_context(STYLE):
            fig, axes = grid(len(shown))
            for ax, (key, points) in zip(axes, shown):
                draw(ax, points, y, palette)
                ax.set_title(plain(" · ".join(key), 60))
            legend(fig, axes)
        note = f" (the {PANELS} of {len(found)} problems with the widest spread)" if len(found) > PANELS else ""
        figures.append(Figure(f"{y.capitalize()} against runtime on {machine}{note}", encode(fig),
                              f"{y} against runtime"))
    return figures


def draw(ax, points: pd.DataFrame, y: str, palette: Palette) -> None:
    for _, row in points.iterrows():
        color, marker = palette(row["series"])
        ax.scatter(row["median_ms"], row[y], color=color, marker=marker, s=36, label=plain(row["series"]), zorder=3)
    edge = front(points, y)
    ax.step(edge["median_ms"], edge[y], where="post", color="black", lw=1, alpha=0.6, label="Pareto front")
    ax.set(xscale="log", xlabel="median runtime (ms)", ylabel=y)
    # From zero, so a kernel reaching half the maps looks like half.
    ax.set_ylim(0, float(points[y].max()) * 1.12 + 1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.margins(x=0.15)
    log_axis(ax.xaxis)
