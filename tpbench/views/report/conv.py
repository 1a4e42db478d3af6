"""Convolutions against the number of edges: runtime and peak memory, where fused and unfused differ most.

One panel per graph structure, layer and pass; one line per kernel; the x axis
is the edge count (a conv problem's ``batch``). Memory is the GPU peak above
the baseline when measured, else the CPU peak resident set of the case.
"""

from __future__ import annotations

import pandas as pd

from tpbench.views.report.figures import sweep
from tpbench.views.report.plotting import Figure, Palette

CONV_FAMILIES = ("conv", "conv-model")
_LAYER_KEYS = ("name", "mul", "L_hidden", "L_sh", "cutoff", "order")


def _panel(params: dict) -> str:
    layer = " ".join(f"{k}={params[k]}" for k in _LAYER_KEYS if k in params)
    return f"{params.get('structure', '?')} · {layer}"


def conv_cases(cases: pd.DataFrame) -> pd.DataFrame:
    data = cases[cases["problem_family"].isin(CONV_FAMILIES)].copy()
    if data.empty:
        return data
    data["conv_panel"] = data["params"].map(lambda p: _panel(p or {}))
    memory = pd.to_numeric(data.get("peak_memory_mb"), errors="coerce")
    if "peak_rss_mb" in data:
        memory = memory.fillna(pd.to_numeric(data["peak_rss_mb"], errors="coerce"))
    data["conv_memory_mb"] = memory
    return data


def conv_vs_edges(cases: pd.DataFrame, palette: Palette) -> list[Figure]:
    data = conv_cases(cases)
    if data.empty:
        return []
    panel_by = ["conv_panel", "pass", "dtype"]
    return (sweep(data, "batch", "median_ms", xlabel="edges", ylabel="median runtime (ms)",
                  title="Convolution runtime against edges", panel_by=panel_by, palette=palette, logx=True)
            + sweep(data, "batch", "conv_memory_mb", xlabel="edges", ylabel="peak memory (MB)",
                    title="Convolution peak memory against edges", panel_by=panel_by, palette=palette, logx=True))
