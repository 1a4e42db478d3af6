"""The ranking every view shows: per machine, problem and pass, the correct timed cases, fastest first.

Only ``ok`` cases with a positive, finite median are ranked; an incorrect,
skipped or failed case never is, nor a stub (a model block with an operation
replaced by a near-free stand-in, ``stub_of``: a measuring device that
computes something else). Cases measured on different machines are
never ranked against each other: the ``machine`` column (a name in reports,
a fingerprint in raw records; absent in runs from before fingerprints) is
part of the group.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd

GROUP = ("machine", "problem_label", "pass")


def ranked(df: pd.DataFrame) -> Iterator[tuple[dict, pd.DataFrame]]:
    """``(group, cases)`` per machine × problem × pass; ``cases`` fastest first, one row per series/kernel."""
    if df.empty or "status" not in df or "median_ms" not in df:
        return
    median = pd.to_numeric(df["median_ms"], errors="coerce")
    keep = (df["status"] == "ok") & (median > 0) & np.isfinite(median) & ~is_stub(df)
    if not keep.any():
        return
    ok = df[keep].assign(median_ms=median[keep])
    if "machine" not in ok:
        ok = ok.assign(machine="")
    keys = list(GROUP)
    for key, group in ok.fillna({"machine": ""}).groupby(keys, sort=False, dropna=False):
        yield dict(zip(keys, key)), group.sort_values("median_ms", kind="stable")


def is_stub(df: pd.DataFrame) -> pd.Series:
    """Rows of stub kernels (``stub_of`` recorded): timed for Amdahl's fraction, never ranked."""
    if "stub_of" not in df:
        return pd.Series(False, index=df.index)
    return df["stub_of"].map(lambda v: isinstance(v, str) and v != "")
