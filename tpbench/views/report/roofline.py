"""Roofline chart: achieved GFLOP/s against arithmetic intensity (FLOP/byte), with the device's roofs.

A roof is ``min(peak FLOP/s, intensity × peak bandwidth)``; measured peaks are
drawn solid, datasheet peaks dashed. Runs without recorded peaks (e.g. CPU)
get the points alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tpbench.views.report.plotting import (MAX_PANELS, STYLE, Figure, Palette, encode, grid, legend, log_axis, plain,
                                           plt)

ROOFS = (("fp32_tflops", "FP32"), ("tf32_tflops", "TF32"))


def roofline(cases: pd.DataFrame, manifests: dict[str, dict[str, Any]], palette: Palette) -> list[Figure]:
    """One figure per run, one panel per kernel family (two dozen kernels in one panel are unreadable)."""
    data = cases.dropna(subset=["arithmetic_intensity", "gflops_per_s"])
    data = data[(data["arithmetic_intensity"] > 0) & (data["gflops_per_s"] > 0)]
    figures = []
    for run_id, group in data.groupby("run_id", sort=True):
        families = sorted(group["family"].fillna("?").unique())[:MAX_PANELS]
        device_peaks = peaks(manifests.get(run_id, {}))
        with plt.rc_context(STYLE):
            fig, axes = grid(len(families), width=4.6, height=3.6)
            has_roofs = False
            for ax, family in zip(axes, families):
                members = group[group["family"].fillna("?") == family]
                for series, points in members.groupby("series", sort=True):
                    color, marker = palette(series)
                    ax.scatter(points["arithmetic_intensity"], points["gflops_per_s"], color=color, marker=marker,
                               s=14, alpha=0.8, label=plain(series))
                has_roofs = draw_roofs(ax, group["arithmetic_intensity"], device_peaks) or has_roofs
                ax.set(xscale="log", yscale="log", xlabel="FLOP/byte", ylabel="GFLOP/s", title=plain(family, 40))
                ax.set_xlim(group["arithmetic_intensity"].min() / 2, group["arithmetic_intensity"].max() * 2)
                ax.set_ylim(group["gflops_per_s"].min() / 2, group["gflops_per_s"].max() * 3)
                log_axis(ax.xaxis)
                log_axis(ax.yaxis)
            legend(fig, axes)
            note = "" if has_roofs else " (no device peaks recorded: points only)"
            title = f"Roofline by kernel family on {group['machine'].iloc[0]}, run {run_id}{note}"
            figures.append(Figure(title, encode(fig), "roofline chart per kernel family"))
    return figures


def peaks(manifest: dict[str, Any]) -> dict[str, dict[str, float]]:
    """{'measured': {...}, 'datasheet': {...}} with only positive numbers kept."""
    raw = manifest.get("peaks") if isinstance(manifest.get("peaks"), dict) else {}
    out = {}
    for kind in ("measured", "datasheet"):
        values = raw.get(kind) if isinstance(raw.get(kind), dict) else {}
        out[kind] = {k: float(v) for k, v in values.items()
                     if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0}
    return out


def draw_roofs(ax, intensity: pd.Series, device_peaks: dict[str, dict[str, float]]) -> bool:
    lo, hi = float(intensity.min()) / 4, float(intensity.max()) * 4
    ridges = [p[k] * 1e3 / p["bandwidth_gbs"] for p in device_peaks.values() if p.get("bandwidth_gbs")
              for k, _ in ROOFS if k in p]
    # Show the points and every ridge point (where the memory roof meets the compute roof).
    x = np.geomspace(min([lo] + [r / 4 for r in ridges]), max([hi] + [r * 4 for r in ridges]), 200)
    drawn = False
    for kind, style in (("measured", "-"), ("datasheet", "--")):
        p = device_peaks.get(kind, {})
        bandwidth = p.get("bandwidth_gbs")
        if not bandwidth:
            continue
        for key, name in ROOFS:
            if key in p:
                roof = np.minimum(p[key] * 1e3, x * bandwidth)
                ax.plot(x, roof, style, color="black", lw=1, alpha=0.7 if kind == "measured" else 0.35)
                ax.annotate(f"{name} {kind}: {p[key]:g} TFLOP/s, {bandwidth:g} GB/s", (x[-1], p[key] * 1e3),
                            ha="right", va="bottom", fontsize=7, alpha=0.8)
                drawn = True
    return drawn
