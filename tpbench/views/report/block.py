"""The report's "From microbenchmark to model" section: the prediction table and predicted vs measured.

Per model-block problem and pass (:mod:`tpbench.metrics.block_records`): each conv
kernel's micro ratio (its conv alone over the baseline conv, at the block's shapes),
the block ratio Amdahl's law predicts from it and the fraction of the baseline
block's time in the conv (from the stub block), and the block ratio measured. A
plot per pass: predicted against measured, one marker per conv kernel, the diagonal
where the micro numbers predict the model exactly.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from tpbench.metrics.block_records import prediction_rows
from tpbench.views.report.plotting import STYLE, Figure, Palette, encode, plain

COLUMNS = [("problem", "block problem", "text"), ("pass", "pass", "text"), ("conv", "conv kernel", "text"),
           ("micro_ratio", "micro ratio", "x"), ("predicted", "predicted block ratio", "x"),
           ("measured", "measured block ratio", "x"), ("fraction", "fraction in the conv", "g"),
           ("micro_ms", "conv alone (ms)", "g"), ("block_ms", "block (ms)", "g"), ("note", "note", "wrap")]


def table(cases: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for r in prediction_rows(cases):
        notes = ([f"changes the model: {r['changes_model']}"] if r.get("changes_model") else []) + \
                ([f"missing: {r['missing']}"] if r.get("missing") else [])
        rows.append({**r, "problem": r.get("config") or r["problem_label"], "note": "; ".join(notes)})
    return rows


def figures(rows: list[dict[str, Any]]) -> list[Figure]:
    import matplotlib.pyplot as plt

    out = []
    convs = sorted({r["conv"] for r in rows if r.get("conv")})
    palette = Palette(convs, convs)  # a hue per conv kernel
    usable = [r for r in rows if all(isinstance(r.get(k), float) and math.isfinite(r[k])
                                     for k in ("predicted", "measured"))]
    for pass_ in dict.fromkeys(r["pass"] for r in usable):
        group = [r for r in usable if r["pass"] == pass_]
        with plt.rc_context(STYLE):
            fig, ax = plt.subplots(figsize=(5.5, 4.2), layout="constrained")
            values = [v for r in group for v in (r["predicted"], r["measured"])]
            lo, hi = min(values) * 0.9, max(values) * 1.1
            ax.plot([lo, hi], [lo, hi], color="0.4", lw=1, ls="--", label="prediction exact")
            for conv in dict.fromkeys(r["conv"] for r in group):
                pts = [r for r in group if r["conv"] == conv]
                gaunt = any(r.get("changes_model") for r in pts)
                color, marker = palette(conv)
                ax.scatter([r["predicted"] for r in pts], [r["measured"] for r in pts], s=36, marker=marker,
                           edgecolors=color, facecolors="none" if gaunt else color,
                           label=plain(conv + (" (changes the model)" if gaunt else ""), 60))
            ax.set(xlabel="predicted block ratio (Amdahl, from the micro ratio)",
                   ylabel="measured block ratio", xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi))
            ax.legend(loc="upper left", fontsize=7)
            problems = ", ".join(dict.fromkeys(str(r["problem"]) for r in group))
            out.append(Figure(f"Predicted against measured block time ratio · {pass_} · {problems}", encode(fig),
                              f"predicted vs measured block ratio, {pass_}"))
    return out
