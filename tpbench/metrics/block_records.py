"""The micro -> model prediction table from one run's records (:mod:`tpbench.metrics.block_prediction`).

A run holds, per model-block problem and pass (``tpbench.run.micro`` plans them):

* the blocks ``block+CONV+SC+SH`` (the ones that differ from the baseline block only in ``CONV``);
* the micro cases: each ``CONV`` alone on the block's conv problem (same graph hash, ``mul``,
  ``L_hidden``, ``L_sh``, dtype, pass, machine);
* the stub block (``stub_of: conv``): the baseline block with a near-free conv, for the fraction.

:func:`prediction_rows` joins them; a group with pieces missing gets a row per
present block and says in ``missing`` what is absent. Medians over the run's
repetitions; a run's records only, so ratios come from one interleaved sweep.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tpbench.metrics.block_prediction import amdahl

BASELINE_CONV = "conv-e3nn"
SEP = "+"


def _parts(kernel: str) -> tuple[str, str, str] | None:
    bits = kernel.split(SEP)
    return tuple(bits[1:4]) if len(bits) == 4 and bits[0] == "block" else None  # type: ignore[return-value]


def _conv_key(row: pd.Series) -> tuple:
    problem = row.get("problem") if isinstance(row.get("problem"), dict) else {}
    graph = problem.get("graph") if isinstance(problem.get("graph"), dict) else {}
    params = row.get("params") if isinstance(row.get("params"), dict) else problem.get("params", {}) or {}
    return (row.get("machine") or "", row.get("pass"), row.get("dtype") or problem.get("dtype"),
            graph.get("hash"), params.get("mul"), params.get("L_hidden"), params.get("L_sh"))


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    median = pd.to_numeric(df["median_ms"], errors="coerce") if "median_ms" in df else pd.Series(np.nan, df.index)
    keep = (df["status"] == "ok") & (median > 0) & np.isfinite(median)
    return df[keep].assign(median_ms=median[keep])


def prediction_rows(df: pd.DataFrame, baseline_conv: str = BASELINE_CONV) -> list[dict[str, Any]]:
    """One row per block problem, pass and conv kernel: micro ratio, predicted, measured, fraction.

    Rows of a group lacking a piece keep ``NaN`` where it is needed and name it in ``missing``.
    """
    if df.empty or "problem_family" not in df or "status" not in df:
        return []
    df = df.assign(machine=df["machine"].fillna("") if "machine" in df else "")
    blocks = df[df["problem_family"] == "model_block"]
    if blocks.empty:
        return []
    ok = _ok(df)
    micro: dict[tuple, float] = {}
    for _, r in ok[ok["problem_family"] == "conv"].iterrows():
        micro.setdefault(_conv_key(r) + (r["kernel"],), []).append(r["median_ms"])  # type: ignore[attr-defined]
    micro = {k: float(np.median(v)) for k, v in micro.items()}
    ok_blocks = ok[ok["problem_family"] == "model_block"]
    rows = []
    for (machine, pid, pass_), group in blocks.groupby(["machine", "problem_id", "pass"], sort=False):
        rows += _group_rows(group, ok_blocks[(ok_blocks["machine"] == machine) & (ok_blocks["problem_id"] == pid)
                                             & (ok_blocks["pass"] == pass_)], micro, baseline_conv)
    return rows


def _stub(row: pd.Series) -> bool:
    return isinstance(row.get("stub_of"), str) and bool(row.get("stub_of"))


def _group_rows(group: pd.DataFrame, ok: pd.DataFrame, micro: dict, baseline_conv: str) -> list[dict]:
    first = group.iloc[0]
    times = {k: float(np.median(g["median_ms"])) for k, g in ok.groupby("kernel")}
    stub_ms = [times[k] for k, g in ok.groupby("kernel") if _stub(g.iloc[0])]
    base_parts = None
    for kernel in times:
        parts = _parts(kernel)
        if parts and parts[0] == baseline_conv:
            base_parts = parts
    missing = []
    if base_parts is None:
        missing.append(f"the baseline block (block+{baseline_conv}+…)")
    if not stub_ms:
        missing.append("the stub block (block+conv-stub+…)")
    key = _conv_key(first)
    base_micro = micro.get(key + (baseline_conv,))
    if base_micro is None:
        missing.append(f"the micro case of {baseline_conv} at the block's shapes")
    base_block = times.get(SEP.join(("block",) + base_parts)) if base_parts else None
    fraction = min(1.0, max(0.0, 1 - stub_ms[0] / base_block)) if stub_ms and base_block else np.nan
    if stub_ms and base_block and stub_ms[0] >= base_block:
        missing.append(f"a usable fraction: the stub block ({stub_ms[0]:.4g} ms) was not faster than the baseline "
                       f"block ({base_block:.4g} ms) — noise; fraction clamped to 0")
    rows = []
    for kernel, block_ms in times.items():
        parts = _parts(kernel)
        row_k = ok[ok["kernel"] == kernel].iloc[0]
        if parts is None or _stub(row_k) or (base_parts and parts[1:] != base_parts[1:]):
            continue  # only blocks that swap the conv alone are held against the baseline block
        m = micro.get(key + (parts[0],))
        s = m / base_micro if m is not None and base_micro else np.nan
        notes = list(missing) + ([] if m is not None else [f"the micro case of {parts[0]}"])
        rows.append({
            "machine": first["machine"], "problem_label": first["problem_label"], "pass": first["pass"],
            "config": (first.get("params") or {}).get("config") if isinstance(first.get("params"), dict) else None,
            "conv": parts[0], "kernel": kernel, "micro_ms": m, "block_ms": block_ms,
            "micro_ratio": s, "fraction": fraction,
            "predicted": amdahl(fraction, s) if fraction == fraction and s == s else np.nan,
            "measured": block_ms / base_block if base_block else np.nan,
            "changes_model": row_k.get("changes_model") if isinstance(row_k.get("changes_model"), str) else "",
            "missing": "; ".join(notes),
        })
    if not rows and missing:
        rows.append({"machine": first["machine"], "problem_label": first["problem_label"], "pass": first["pass"],
                     "conv": "", "kernel": "", "missing": "; ".join(missing)})
    return sorted(rows, key=lambda r: (r.get("conv") != baseline_conv, r.get("block_ms") or 0))
