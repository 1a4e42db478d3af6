"""benchmarks/gaunt_cpu.py checks every column, its baseline included, before it times anything."""

import importlib.util
from pathlib import Path

import pytest

PATH = Path(__file__).parent.parent / "benchmarks" / "gaunt_cpu.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("gaunt_cpu_bench", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_columns_agree_with_the_reference(bench):
    errors = bench.check(2, set(), {"gaunt-grid", "gaunt-grid-sep-dft"})
    assert set(errors) == {"3-matmul", "gaunt-grid", "gaunt-grid-sep-dft"}
    assert max(errors.values()) < 1e-12


def test_a_wrong_baseline_stops_the_benchmark(bench, monkeypatch):
    """A baseline that computes something else (here: a transposed grid) must not be timed."""
    monkeypatch.setattr(bench.ThreeMatmul, "forward", lambda self, x1, x2: ((x2 @ self.Y1) * (x1 @ self.Y2)) @ self.Z * 1.001)
    with pytest.raises(SystemExit, match="3-matmul"):
        bench.check(2, set(), {"gaunt-grid"})


def test_ratios_are_per_round(bench, monkeypatch):
    """Each ratio divides by the baseline's time of the same round."""
    times = iter([1.0, 2.0, 4.0, 8.0, 3.0, 6.0, 4.0, 8.0])  # round 1: base, kernel; round 2: kernel, base (reversed)
    monkeypatch.setattr(bench, "time_ms", lambda module, pass_, inputs: next(times))
    out = bench.row(1, 8, 2, set(), {"gaunt-grid"})
    assert out["3-matmul"]["fwd"]["ms"] == [1.0, 4.0] and out["gaunt-grid"]["fwd"]["ms"] == [4.0, 3.0]
    assert out["gaunt-grid"]["fwd"]["ratio"] == [4.0, 0.75]
    assert out["gaunt-grid"]["fwd+bwd"]["ratio"] == [4.0, 0.75]
    assert out["gaunt-grid"]["method"].startswith("fwd=")
