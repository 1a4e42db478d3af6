"""tpbench export: CSV and Parquet round trips, and JSON that pytest-benchmark itself reads."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tpbench.cli.commands.export import command
from tpbench.spec.errors import UserError
from tpbench.views.export import export, read_table
from tpbench.results.store import read_cases

DATA = Path(__file__).parent / "data" / "runs"
RUN = DATA / "cpu-quick"


@pytest.fixture(scope="module")
def records():
    with pytest.warns(Warning):  # the golden run's truncated last line
        return read_cases(RUN / "cases.jsonl")


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12)
    return a == b


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_table_round_trip(tmp_path, records, fmt):
    path, warnings = export(str(RUN), fmt, tmp_path / f"out.{fmt}")
    assert any("cases.jsonl:" in w for w in warnings)
    table = read_table(path)
    assert len(table) == len(records)
    assert set(table["run_id"]) == {"cpu-quick"}
    for record, (_, row) in zip(records, table.iterrows()):
        for key, value in record.items():
            if value is None:
                assert row[key] is None or (isinstance(row[key], float) and math.isnan(row[key]))
            else:
                assert same(row[key], value), (key, row[key], value)


def test_pytest_benchmark_layout(tmp_path, records):
    path, _ = export(str(RUN), "pytest-benchmark", tmp_path / "bench.json")
    doc = json.loads(path.read_text())
    assert {"machine_info", "commit_info", "benchmarks", "datetime", "version"} <= set(doc)
    bench = doc["benchmarks"][0]
    assert {"name", "fullname", "group", "params", "stats"} <= set(bench)
    stats = set(bench["stats"])
    assert {"min", "max", "mean", "stddev", "rounds", "median", "iqr", "q1", "q3", "iqr_outliers",
            "stddev_outliers", "outliers", "ld15iqr", "hd15iqr", "ops", "total", "data", "iterations"} <= stats
    ok = [r for r in records if r.get("status") == "ok"]
    assert len(doc["benchmarks"]) == len(ok)
    first = next(r for r in ok if r["kernel"] in bench["name"] and r["problem_id"] in bench["name"])
    assert bench["stats"]["median"] == pytest.approx(sorted(first["samples_ms"])[len(first["samples_ms"]) // 2] / 1e3)


def test_pytest_benchmark_compare_reads_it(tmp_path):
    a, _ = export(str(RUN), "pytest-benchmark", tmp_path / "0001_a.json")
    b = tmp_path / "0002_b.json"
    shutil.copy(a, b)
    cli = [sys.executable, "-m", "pytest_benchmark", "compare", str(a), str(b), "--group-by=group",
           "--columns=min,median,rounds"]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "torch-cg[" in done.stdout and "Median" in done.stdout


def test_unknown_format(tmp_path):
    with pytest.raises(UserError):
        export(str(RUN), "xml", tmp_path / "x")


def test_export_command(tmp_path):
    out = tmp_path / "run.csv"
    result = CliRunner().invoke(command, [str(RUN), "--format", "csv", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists() and "warning:" in result.output
