"""Runtime and memory sweeps and the speedup heatmap, as inline SVG figures.

Every function returns a list of ``Figure`` (empty when there is no data).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.colors import Normalize
from matplotlib.ticker import MaxNLocator

from tpbench.spec import passes
from tpbench.views.report.plotting import (MAX_PANELS, STYLE, Figure, Palette, encode, grid, integer_ticks, legend,
                                     log_axis, plain, plt)

def sweep(cases: pd.DataFrame, x: str, y: str, *, xlabel: str, ylabel: str, title: str,
          panel_by: list[str], palette: Palette, logx: bool = False) -> list[Figure]:
    """Lines of ``y`` against ``x``, one per series; one figure per machine, one panel per ``panel_by`` value."""
    data = cases.dropna(subset=[x, y])
    data = data[data[y] > 0]
    out = []
    for machine, group in data.groupby("machine", sort=True):
        panels = [(k, g) for k, g in group.groupby(panel_by, sort=True, dropna=False) if g[x].nunique() >= 2]
        panels.sort(key=lambda kg: tuple(passes.order(v) if k == "pass" else str(v)
                                         for k, v in zip(panel_by, kg[0])))
        if panels:
            note = f" (first {MAX_PANELS} of {len(panels)} panels)" if len(panels) > MAX_PANELS else ""
            uri = panel_figure(panels[:MAX_PANELS], x, y, xlabel, ylabel, palette, logx, panel_by)
            out.append(Figure(f"{title} on {machine}{note}", uri, f"{ylabel} against {xlabel}"))
    return out


def panel_figure(panels, x, y, xlabel, ylabel, palette, logx, panel_by) -> str:
    with plt.rc_context(STYLE):
        fig, axes = grid(len(panels))
        for ax, (key, group) in zip(axes, panels):
            draw_lines(ax, group, x, y, palette)
            words = [f"{k} {v}" if k == "batch" else str(v) for k, v in zip(panel_by, key)]
            ax.set_title(plain(" · ".join(words), 60))
            ax.set(xlabel=xlabel, ylabel=ylabel, yscale="log")
            log_axis(ax.yaxis)
            if logx:
                ax.set_xscale("log")
                integer_ticks(ax, group[x])
            else:  # degrees and counts: whole numbers only, never 1.25
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        legend(fig, axes)
        return encode(fig)


def draw_lines(ax, group: pd.DataFrame, x: str, y: str, palette: Palette) -> None:
    for series, line in group.groupby("series", sort=True):
        line = line.groupby(x)[y].median().sort_index()
        color, marker = palette(series)
        ax.plot(line.index, line.values, marker=marker, color=color, label=plain(series), ms=4, lw=1.2)


def runtime_vs(cases, x, xlabel, palette, logx=False) -> list[Figure]:
    panel_by = ["problem_family", "pass", "dtype"] + (["batch"] if x != "batch" else [])
    return sweep(cases, x, "median_ms", xlabel=xlabel, ylabel="median runtime (ms)",
                 title=f"Runtime against {xlabel}", panel_by=panel_by, palette=palette, logx=logx)


def memory_vs(cases, x, xlabel, palette, logx=False) -> list[Figure]:
    panel_by = ["problem_family", "pass", "dtype"] + (["batch"] if x != "batch" else [])
    return sweep(cases, x, "peak_memory_mb", xlabel=xlabel, ylabel="peak memory (MB)",
                 title=f"Peak memory against {xlabel}", panel_by=panel_by, palette=palette, logx=logx)


def heatmap(table: pd.DataFrame, baseline: str, machine: str) -> list[Figure]:
    """Speedup of each kernel over the baseline (rows: kernels, columns: problem · pass), log colour scale."""
    if table.empty:
        return []
    values = np.log2(table.to_numpy(dtype=float))
    span = max(float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0, 0.5)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(min(3.5 + 0.3 * table.shape[1], 40), 2.8 + 0.3 * table.shape[0]),
                               layout="constrained")
        image = ax.imshow(values, cmap="RdBu", norm=Normalize(-span, span), aspect="auto")
        ax.set_xticks(range(table.shape[1]), [plain(c, 60) for c in table.columns], rotation=90, fontsize=7)
        ax.set_yticks(range(table.shape[0]), [plain(r) for r in table.index])
        ax.grid(False)
        ax.set_facecolor("#d9d9d9")  # cells without a measurement show grey, not "1×" white
        if table.size <= 600:
            annotate(ax, table.to_numpy(dtype=float))
        bar = fig.colorbar(image, ax=ax, shrink=0.8)
        step = max(1, math.ceil(2 * span / 8))
        ticks = np.arange(-math.ceil(span), math.ceil(span) + 1, step)
        bar.set_ticks(ticks, labels=[ratio_text(2.0 ** t) + "×" for t in ticks])
        bar.set_label("speedup (×); blue: faster than baseline")
        ax.set_title(plain(machine, 70))
        return [Figure(f"Speedup over {baseline} on {machine}", encode(fig), "speedup heatmap")]


def ratio_text(v: float) -> str:
    """A speedup as a person reads it: 3.2, 45, 1200; below 1 as a fraction, 0.5 or 1/256."""
    if v >= 10:
        return f"{v:.0f}"
    if v >= 0.1:
        return f"{v:.2g}"
    return f"1/{1 / v:.0f}"


def annotate(ax, values) -> None:
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, ratio_text(v), ha="center", va="center", fontsize=6,
                    color="white" if abs(math.log2(v)) > 1.5 else "black")


def error_strips(cases: pd.DataFrame) -> list[Figure]:
    """Relative and equivariance error of every gated case, per kernel, log scale; red: failed its gate."""
    data = cases[cases["status"].isin(["ok", "incorrect"])]
    columns = [(c, t) for c, t in (("rel_error", "relative error vs float64 reference"),
                                   ("equivariance_error", "equivariance error")) if (data[c] > 0).any()]
    if not columns:
        return []
    order = sorted(data["series"].unique())
    with plt.rc_context(STYLE):
        # Panels stacked, so many kernels still fit the page width with readable labels.
        fig, axes = plt.subplots(len(columns), 1, figsize=(min(13, max(6, 0.45 * len(order))), 4 * len(columns)),
                                 squeeze=False, layout="constrained")
        for ax, (col, title) in zip(axes.flat, columns):
            for status, color in (("ok", "tab:green"), ("incorrect", "tab:red")):
                part = data[(data["status"] == status) & (data[col] > 0)]
                x = part["series"].map({s: i for i, s in enumerate(order)})
                jitter = np.random.default_rng(0).uniform(-0.2, 0.2, len(part))
                ax.scatter(x + jitter, part[col], s=8, color=color, alpha=0.6, label=status)
            ax.set_xticks(range(len(order)), [plain(s) for s in order], rotation=45, ha="right")
            ax.set(yscale="log", ylabel=f"{col} (max over blocks)", title=title)
            ax.legend(frameon=False, fontsize=7)
        return [Figure("Correctness and equivariance errors", encode(fig), "error strip plot")]
