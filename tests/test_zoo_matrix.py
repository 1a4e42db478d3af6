"""matrix-tp: its own float64 reference, rotations only (SO(3)), honest path list."""

import pytest
import torch

from tpbench.oracle.correctness import run_gate
from tpbench.oracle.equivariance import equivariance_errors
from tpbench.kernel.base import build_module
from tpbench.spec.paths import tp_paths
from tpbench.spec.problem import Problem
from tpbench.spec.shapes import channelwise, mimo, mimo_ap, siso, simo
from tpbench_kernels.matrix.dense import MatrixTPKernel

KERNEL = MatrixTPKernel()
F64 = dict(dtype="float64")


@pytest.mark.parametrize("problem", [mimo(1, batch=16, **F64), mimo(2, batch=16, **F64), mimo(3, batch=16, **F64),
                                     simo(2, batch=16, **F64), siso(2, batch=16, **F64), mimo_ap(2, batch=16, **F64)],
                         ids=lambda p: p.label)
def test_gate_float64_rotations_only(problem):
    assert KERNEL.symmetry == "SO(3)"
    result = run_gate(KERNEL, problem, build_module(KERNEL, problem, "cpu"), "cpu", ["fwd", "fwd+bwd", "fwd+bwd+bwd"])
    assert not result.failures and not result.crashed, (result.failures, result.crashed)
    assert "rotation" in result.errors and "inversion" not in result.errors


def test_gate_float32():
    problem = mimo(3, batch=64, dtype="float32")
    result = run_gate(KERNEL, problem, build_module(KERNEL, problem, "cpu"), "cpu", ["fwd", "fwd+bwd"])
    assert not result.failures and not result.crashed


def test_not_parity_equivariant():
    """Why it is SO(3) only: under the inversion the output breaks O(3) equivariance."""
    problem = mimo(2, batch=8, **F64)
    module, native = build_module(KERNEL, problem, "cpu"), KERNEL.native(problem)
    gen = torch.Generator().manual_seed(0)
    xs = [torch.randn(8, irreps.dim, generator=gen, dtype=torch.float64) for irreps in native.input_irreps]
    errors = equivariance_errors(module, native.input_irreps, native.irreps_out, xs, "O(3)", gen)
    assert errors["rotation"] < 1e-10 and errors["inversion"] > 1e-3


def test_scalars_multiply():
    problem = Problem("tp", "0e", "0e", "0e", batch=4, **F64)
    module = build_module(KERNEL, problem, "cpu")
    x, y = torch.randn(4, 1, dtype=torch.float64), torch.randn(4, 1, dtype=torch.float64)
    torch.testing.assert_close(module(x, y), x * y, rtol=1e-12, atol=1e-12)


def test_paths_cover_cg_and_odd_couplings():
    problem = mimo(3)
    reached = set(KERNEL.native(problem).path_labels)
    cg = set(tp_paths(problem).path_labels())
    assert cg <= reached  # every parity-allowed CG path ...
    assert "1o x 1o -> 1o" in reached  # ... plus l1+l2+l3-odd couplings (parity ignored)


@pytest.mark.parametrize("problem", [
    channelwise(4, 1, 1),
    Problem("tp", "2x0e+2x1o", "0e+1o", "0e+1o"),
    Problem("tp", "0e+0o", "0e", "0e"),
], ids=lambda p: p.label)
def test_unsupported_give_reasons(problem):
    reason = KERNEL.supports(problem, "cpu")
    assert isinstance(reason, str) and reason
