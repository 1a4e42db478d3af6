"""Export one run's cases to CSV, Parquet, or pytest-benchmark's JSON.

CSV and Parquet hold one row per case; nested fields (problem, params, errors,
samples, paths, ...) are JSON text so every row has the same flat columns and a
reader can decode them with ``json.loads`` (``read_table`` does it for you).

The pytest-benchmark file follows its 5.x JSON layout (``machine_info``,
``commit_info``, ``benchmarks``, ``datetime``, ``version``) with times in
seconds, so ``pytest-benchmark compare FILE ...`` tables and compares tpbench
runs. Only correct, timed cases with samples are exported there: the format
has no notion of a skipped or incorrect case.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tpbench.spec.errors import UserError
from tpbench.results.store import as_dict, open_run

FORMATS = {"csv": ".csv", "parquet": ".parquet", "pytest-benchmark": ".json"}
PYTEST_BENCHMARK_VERSION = "5.1.0"  # the JSON layout written here; unchanged through 5.x


def export(ref: str, fmt: str, output: str | Path | None = None, root: str = "results") -> tuple[Path, list[str]]:
    """Write run ``ref`` in ``fmt``; returns the path and the load warnings (bad lines skipped)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}: expected one of {', '.join(FORMATS)}")
    run = open_run(ref, root)
    records, manifest = run.records, run.manifest
    path = Path(output) if output else Path(run.run_id + FORMATS[fmt])
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "pytest-benchmark":
        path.write_text(json.dumps(pytest_benchmark(records, manifest), indent=2, allow_nan=False) + "\n")
    else:
        write_table(flat_table(records, run.run_id), path, fmt)
    return path, run.warnings


def flat_table(records: list[dict[str, Any]], run_id: str) -> pd.DataFrame:
    """One row per case; dicts and lists become JSON text, columns in first-seen order."""
    rows = [{"run_id": run_id, **{k: _flat(v) for k, v in r.items()}} for r in records]
    return pd.DataFrame(rows)


def write_table(table: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        table.to_csv(path, index=False)
    else:
        # Columns mixing numbers and text (an untrusted field) are stored as text rather than failing.
        mixed = [c for c in table.columns if table[c].map(type).nunique() > 2]
        table.astype({c: "string" for c in mixed}).to_parquet(path, index=False)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read an exported CSV or Parquet file back, decoding the JSON-text columns."""
    path = Path(path)
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    for column in table.columns:
        values = table[column].dropna()
        if len(values) and values.map(lambda v: isinstance(v, str) and v[:1] in "[{").all():
            try:
                table[column] = table[column].map(lambda v: json.loads(v) if isinstance(v, str) else v)
            except json.JSONDecodeError:  # text that merely starts with a bracket stays text
                pass
    return table


def _flat(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def pytest_benchmark(records: list[dict[str, Any]], manifest: dict[str, Any]) -> dict[str, Any]:
    """A pytest-benchmark 5.x JSON document for the run's correct, timed cases."""
    env = as_dict(manifest.get("environment"))
    git = as_dict(env.get("git"))
    benchmarks = [b for b in (benchmark_entry(r) for r in records) if b is not None]
    return {
        "machine_info": {
            "node": str(env.get("hostname") or ""), "processor": str(env.get("cpu") or ""),
            "machine": str(env.get("platform") or ""), "python_implementation": "CPython",
            "python_version": str(env.get("python") or ""), "system": "", "release": "",
            "cpu": {"brand_raw": str(env.get("cpu") or ""), "count": env.get("cpu_count")},
            "gpus": [str(as_dict(g).get("name")) for g in env.get("gpus") or [] if isinstance(g, dict)],
        },
        "commit_info": {"id": str(git.get("commit") or "unversioned"), "time": None, "author_time": None,
                        "dirty": bool(git.get("dirty")), "project": "tpbench", "branch": None},
        "benchmarks": benchmarks,
        "datetime": str(manifest.get("created") or ""),
        "version": PYTEST_BENCHMARK_VERSION,
    }


def benchmark_entry(record: dict[str, Any]) -> dict[str, Any] | None:
    samples = [float(s) / 1e3 for s in record.get("samples_ms") or []
               if isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s) and s > 0]
    if record.get("status") != "ok" or not samples:
        return None
    params = {k: str(record.get(k)) for k in ("kernel", "problem_id", "pass", "variant", "device", "dtype")}
    case = "-".join(params[k] for k in ("problem_id", "pass", "variant", "device"))
    return {
        "group": f"{record.get('problem_label') or record.get('problem_id')} {record.get('pass')}",
        "name": f"{record.get('kernel')}[{case}]", "fullname": f"tpbench::{record.get('kernel')}[{case}]",
        "params": params, "param": case, "extra_info": extra_info(record),
        "options": {"timer": str(record.get("timer")), "min_rounds": None, "max_time": None, "min_time": None,
                    "warmup": None, "disable_gc": False},
        "stats": sample_stats(samples, int(record.get("inner_loops") or 1)),
    }


def extra_info(record: dict[str, Any]) -> dict[str, Any]:
    keys = ("backend", "family", "problem_label", "rel_error", "equivariance_error", "flops", "bytes",
            "peak_memory_mb", "effective_method")
    return {k: record[k] for k in keys if isinstance(record.get(k), (str, int, float)) and _finite(record[k])}


def sample_stats(data: list[float], iterations: int) -> dict[str, Any]:
    """pytest-benchmark's statistics fields, in seconds, from raw samples."""
    x = np.sort(np.asarray(data))
    q1, q3 = (float(v) for v in np.percentile(x, [25, 75]))
    iqr = q3 - q1
    mean, std = float(x.mean()), (statistics.stdev(data) if len(data) > 1 else 0.0)
    iqr_out = int(((x < q1 - 1.5 * iqr) | (x > q3 + 1.5 * iqr)).sum())
    std_out = int(((x < mean - std) | (x > mean + std)).sum())
    inside = x[(x >= q1 - 1.5 * iqr) & (x <= q3 + 1.5 * iqr)]
    return {"min": float(x[0]), "max": float(x[-1]), "mean": mean, "stddev": std, "rounds": len(data),
            "median": float(np.median(x)), "iqr": iqr, "q1": q1, "q3": q3, "iqr_outliers": iqr_out,
            "stddev_outliers": std_out, "outliers": f"{std_out};{iqr_out}", "ld15iqr": float(inside[0]),
            "hd15iqr": float(inside[-1]), "ops": 1.0 / mean, "total": float(x.sum()), "data": list(map(float, data)),
            "iterations": iterations}


def _finite(value: Any) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


