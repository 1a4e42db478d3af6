"""grid-mlp: exact against its float64 reference; equivariance improves with the grid resolution."""

import pytest
import torch

from tpbench.oracle.correctness import run_gate
from tpbench.kernel.base import build_module, default_dtype
from tpbench.spec.problem import Problem
from tpbench.spec.shapes import gate, linear, mimo
from tpbench_kernels.layers.grid_mlp import GridMLP, GridMLPKernel, equivariance_vs_resolution

F64 = dict(dtype="float64")


@pytest.mark.parametrize("problem", [linear(4, 1, batch=16, **F64), linear(4, 2, batch=16, **F64),
                                     linear(2, 4, batch=16, **F64)], ids=lambda p: p.label)
def test_gate_without_exact_equivariance(problem):
    kernel = GridMLPKernel()
    assert not kernel.exactly_equivariant and not kernel.bilinear
    result = run_gate(kernel, problem, build_module(kernel, problem, "cpu"), "cpu", ["fwd", "fwd+bwd", "fwd+bwd+bwd"])
    assert not result.failures and not result.crashed, (result.failures, result.crashed)
    assert result.errors["rotation"] < 0.1  # recorded, approximate


def test_gate_float32_other_resolution():
    kernel, problem = GridMLPKernel(3), linear(8, 2, batch=64)
    result = run_gate(kernel, problem, build_module(kernel, problem, "cpu"), "cpu", ["fwd", "fwd+bwd"])
    assert not result.failures and not result.crashed


def test_equivariance_error_falls_with_resolution():
    rows = equivariance_vs_resolution(mul=4, L=2, resolutions=(1, 2, 3, 4))
    errors = [r["rotation"] for r in rows]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-4


def test_round_trip_exact_at_minimal_grid():
    """Without the MLP, s2(L) -> grid -> s2(L) is the identity already at q = 1."""
    with default_dtype(torch.float64):
        module = GridMLP(1, 4, q=1)
    eye = module.from_grid @ module.to_grid
    torch.testing.assert_close(eye, torch.eye(25, dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("problem", [mimo(2), gate(2, 2), linear(2, 13),
                                     Problem("linear", "4x0e+4x1e", "4x0e+4x1e", weights="shared"),
                                     Problem("linear", "4x0e+2x1o", "4x0e+2x1o", weights="shared")],
                         ids=lambda p: p.label)
def test_unsupported_give_reasons(problem):
    reason = GridMLPKernel().supports(problem, "cpu")
    assert isinstance(reason, str) and reason
