"""gaunt-grid-triton: correctness on CPU through Triton's interpreter, and its unavailable reasons."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tpbench.spec.shapes import mimo
from tpbench_kernels.gaunt import fused_triton as gaunt_triton
from tpbench_kernels.gaunt.fused_triton import GauntGridTriton

HERE = Path(__file__).parent
needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed")


@pytest.fixture(scope="module")
def interpreted():
    """The checks of tests/triton_checks.py, run once in a subprocess with TRITON_INTERPRET=1."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    proc = subprocess.run([sys.executable, str(HERE / "triton_checks.py")], env=env, cwd=HERE.parent,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@needs_triton
def test_interpreter_makes_it_available(interpreted):
    assert interpreted["available"] is None


@needs_triton
@pytest.mark.parametrize("name", ["mimo1-f64", "mimo5-f64", "mimo2-f32", "mimo2-tf32", "mimo-ap2-f64", "pseudo-natural"])
def test_gate_forward_backward_double_backward(interpreted, name):
    """The fused kernel and its derivative launches against the float64 reference, fp64, fp32 and tf32."""
    r = interpreted["gate"][name]
    assert "unsupported" not in r, r
    assert not r["failures"] and not r["crashed"], r
    for p in ("fwd", "full_batch", "fwd+bwd", "fwd+bwd+bwd"):
        assert r["errors"][p] <= r["tolerances"]["fwd"], (p, r)
    if name.endswith("f64") or name == "pseudo-natural":
        assert max(r["errors"].values()) < 1e-12, r


@needs_triton
def test_forward_mode_matches_the_reference(interpreted):
    assert interpreted["jvp"] < 1e-12


@needs_triton
def test_mixed_kinds_and_empty_batches(interpreted):
    assert "single-kind" in interpreted["mixed"]
    assert interpreted["empty_batch"] == [0, 25]


def test_interpreter_setting_does_not_leak():
    """The subprocess set TRITON_INTERPRET for itself only; here the kernel keeps to CUDA."""
    assert os.environ.get("TRITON_INTERPRET", "0") != "1"
    assert "cuda only" in GauntGridTriton().supports(mimo(2, dtype="float64"), "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_unavailable_without_gpu_or_triton(monkeypatch):
    kernel = GauntGridTriton()
    if importlib.util.find_spec("triton") is not None:
        assert "CUDA GPU" in kernel.available()
    real = importlib.util.find_spec
    monkeypatch.setattr(gaunt_triton.importlib.util, "find_spec", lambda n, *a: None if n == "triton" else real(n, *a))
    assert "triton is not installed" in kernel.available()


def test_padding_and_flops():
    """Legs padded to powers of two >= 16 (tl.dot's minimum); flops count the padded work, output tiles included."""
    assert [gaunt_triton.padded(d) for d in (1, 9, 16, 17, 121, 441)] == [16, 16, 16, 32, 128, 512]
    kernel = GauntGridTriton()
    assert kernel.flops(mimo(10)) > kernel.flops(mimo(2)) > 0
