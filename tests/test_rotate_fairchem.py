"""fairchem (optional): UMA's Euler edge rotations behind the rotate gate; why its SO(2) convolution is not compared."""

import pytest

from tpbench.kernel import build_module
from tpbench.oracle.correctness import run_gate
from tpbench.spec.shapes import rotate, so2_conv
from tpbench_kernels.so2 import fairchem
from tpbench_kernels.so2.fairchem import FairchemEulerRotate, FairchemSO2


def test_without_fairchem_both_kernels_say_how_to_install(monkeypatch):
    monkeypatch.setattr(fairchem, "_fairchem_dir", lambda: None)
    assert "pip install --no-deps fairchem-core" in FairchemEulerRotate().available()
    reason = FairchemSO2().supports(so2_conv(2, 2, 1, batch=4), "cpu")
    assert "pip install" in reason and "different operation" in reason


def test_fairchem_so2_is_never_compared_and_says_why():
    reason = FairchemSO2().supports(so2_conv(2, 2, 1, batch=4), "cpu")
    assert reason and "shares its channel-mixing weights across edges" in reason


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_uma_euler_rotation_with_its_random_roll_passes_fwd_and_bwd(dtype):
    if fairchem._reason():
        pytest.skip(fairchem._reason())
    kernel, problem = FairchemEulerRotate(), rotate(4, mul=2, m_max=2, batch=30, dtype=dtype)
    result = run_gate(kernel, problem, build_module(kernel, problem, "cpu"), "cpu", ["fwd", "fwd+bwd", "fwd+bwd+bwd"])
    assert "fwd" not in result.failures and "fwd+bwd" not in result.failures, result.failures
    # UMA's Safeacos saves a clamped copy of its input: no second derivative of β in the edge vector.
    assert "fwd+bwd+bwd" in result.failures and result.errors["fwd+bwd+bwd"] > 1e-3
