"""The micro -> model prediction table as terminal lines (``tpbench show``)."""

from __future__ import annotations

import pandas as pd

from tpbench.metrics.block_records import prediction_rows


def _f(v, fmt: str) -> str:
    return format(v, fmt) if isinstance(v, (int, float)) and v == v else "—"


def prediction_text(df: pd.DataFrame) -> list[str]:
    """Empty when the run has no model block; else a heading and one line per block, pass and conv."""
    rows = prediction_rows(df)
    if not rows:
        return []
    lines = ["", "from microbenchmark to model (conv swapped in the block; ratios over the baseline block, "
                 "this run only):",
             f"{'problem':<24} {'pass':<11} {'conv':<40} {'micro x':>7} {'pred x':>7} {'meas x':>7} {'f conv':>6}"]
    for r in rows:
        label = f"{r.get('config') or r['problem_label'][:24]}"
        note = (" changes the model" if r.get("changes_model") else "") + \
               (f" missing: {r['missing']}" if r.get("missing") else "")
        lines.append(f"{label:<24} {r['pass']:<11} {r.get('conv') or '—':<40} {_f(r.get('micro_ratio'), '7.2f')} "
                     f"{_f(r.get('predicted'), '7.2f')} {_f(r.get('measured'), '7.2f')} "
                     f"{_f(r.get('fraction'), '6.2f')}{note}")
    return lines
