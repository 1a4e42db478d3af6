"""cg-sparse: passes the float64 gate, equals the dense CG, and says why it skips a problem."""

import pytest
import torch
from e3nn import o3

from tpbench.oracle.correctness import run_gate
from tpbench.kernel.base import build_module
from tpbench.spec.problem import Problem
from tpbench.spec.shapes import channelwise, fully_connected, mimo, mimo_ap, model, linear
from tpbench_kernels.cg.sparse import CGSparseKernel, nonzero_cg
from tpbench_kernels.cg.reference import ReferenceCGKernel
from tpbench_kernels.cg.dense import TorchCGKernel

KERNEL = CGSparseKernel()
F64 = dict(dtype="float64")
PASSES = ["fwd", "fwd+bwd", "fwd+bwd+bwd"]


def _inputs(problem, seed=0):
    gen = torch.Generator().manual_seed(seed)
    native = KERNEL.native(problem)
    xs = [torch.randn(problem.batch, irreps.dim, generator=gen, dtype=torch.float64) for irreps in native.input_irreps]
    if native.weights == "shared":
        xs.append(torch.randn(native.weight_numel, generator=gen, dtype=torch.float64))
    elif native.weights == "per-sample":
        xs.append(torch.randn(problem.batch, native.weight_numel, generator=gen, dtype=torch.float64))
    return xs


GATE_PROBLEMS = [
    *(mimo(L, batch=24, **F64) for L in (1, 2, 3, 4)),
    mimo_ap(2, batch=24, **F64),
    channelwise(4, 2, 2, batch=24, **F64),
    fully_connected(3, 2, batch=24, **F64),
    model("nequip-l1", batch=8, **F64),
]


@pytest.mark.parametrize("problem", GATE_PROBLEMS, ids=lambda p: p.label)
def test_gate_float64(problem):
    assert KERNEL.supports(problem, "cpu") is None
    result = run_gate(KERNEL, problem, build_module(KERNEL, problem, "cpu"), "cpu", PASSES)
    assert not result.failures and not result.crashed, (result.failures, result.crashed)


def test_gate_float32():
    problem = mimo(2, batch=64, dtype="float32")
    result = run_gate(KERNEL, problem, build_module(KERNEL, problem, "cpu"), "cpu", ["fwd", "fwd+bwd"])
    assert not result.failures and not result.crashed


@pytest.mark.parametrize("problem", [mimo(3, batch=32, **F64), channelwise(3, 2, 2, batch=32, **F64),
                                     fully_connected(2, 2, batch=32, **F64)], ids=lambda p: p.label)
def test_equals_dense_cg(problem):
    xs = _inputs(problem)
    got = build_module(KERNEL, problem, "cpu")(*xs)
    for dense in (TorchCGKernel(), ReferenceCGKernel()):
        want = build_module(dense, problem, "cpu")(*xs)
        assert (got - want).abs().max().item() <= 1e-12 * want.abs().max().item()


def test_pattern_is_sparse_and_from_coefficients():
    for l1, l2, l3 in [(1, 1, 2), (2, 3, 4), (3, 3, 2), (4, 2, 5)]:
        i, j, k, c = nonzero_cg(l1, l2, l3)
        C = o3.wigner_3j(l1, l2, l3, dtype=torch.float64)
        kept = torch.zeros_like(C)
        kept[i, j, k] = c
        assert torch.equal(kept, torch.where(C.abs() > 1e-12 * C.abs().max(), C, torch.zeros_like(C)))
        per_m1_m3 = torch.zeros(C.shape[0], C.shape[2], dtype=torch.int64).index_put_((i, k), torch.ones_like(i),
                                                                                      accumulate=True)
        assert per_m1_m3.max() <= 2


def test_flops_below_dense():
    problem = mimo(5)
    assert 0 < KERNEL.flops(problem) < TorchCGKernel().flops(problem)


@pytest.mark.parametrize("problem", [
    linear(4, 2),
    model("diffdock-l1"),  # mixed multiplicities in one input
    Problem("tp", "2x0e+2x1o", "2x0e", "0e+1o", connection="fully_connected", weights="per-sample"),
], ids=lambda p: p.label)
def test_unsupported_give_reasons(problem):
    reason = KERNEL.supports(problem, "cpu")
    assert isinstance(reason, str) and reason
