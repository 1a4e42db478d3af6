"""torch-linear and torch-gate: float64 gate, and equal to e3nn's modules."""

import pytest
import torch

from tpbench.oracle.correctness import run_gate
from tpbench.kernel.base import build_module
from tpbench.spec.problem import Problem
from tpbench.spec.shapes import gate, linear, mimo
from tpbench_kernels.libraries.e3nn import E3nnGate, E3nnLinear
from tpbench_kernels.layers.native import TorchGateKernel, TorchLinearKernel

F64 = dict(dtype="float64")
PASSES = ["fwd", "fwd+bwd", "fwd+bwd+bwd"]
LINEAR_PROBLEMS = [linear(4, 2, batch=32, **F64), linear(3, 4, batch=32, **F64),
                   Problem("linear", "2x0e+3x1o+1x0e+2x2e", "4x0e+1x1o+2x1o+1x3o", weights="shared", batch=32, **F64)]
# e3nn's nn.Gate reads its input in *sorted* irreps order, so only sorted problems compare with it.
GATE_PROBLEMS = [gate(4, 2, batch=32, **F64), gate(3, 4, batch=32, **F64),
                 Problem("gate", "3x0o+2x0e+2x0e+3x0e+2x1o+3x2e", "3x0o+2x0e+2x1o+3x2e", batch=32, **F64)]
UNSORTED_GATE = Problem("gate", "2x0e+3x0o+1x0e+2x0e+3x0e+2x1o+3x2e", "2x0e+3x0o+1x0e+2x1o+3x2e", batch=32, **F64)


def _check(kernel, problem):
    assert kernel.supports(problem, "cpu") is None
    result = run_gate(kernel, problem, build_module(kernel, problem, "cpu"), "cpu", PASSES)
    assert not result.failures and not result.crashed, (result.failures, result.crashed)


@pytest.mark.parametrize("problem", LINEAR_PROBLEMS, ids=lambda p: p.irreps_in1)
def test_linear_gate_and_e3nn(problem):
    kernel = TorchLinearKernel()
    _check(kernel, problem)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(problem.batch, problem.in1.dim, generator=gen, dtype=torch.float64)
    w = torch.randn(kernel.native(problem).weight_numel, generator=gen, dtype=torch.float64)
    want = build_module(E3nnLinear(), problem, "cpu")(x, w)
    torch.testing.assert_close(build_module(kernel, problem, "cpu")(x, w), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("problem", GATE_PROBLEMS, ids=lambda p: p.irreps_in1)
def test_gate_gate_and_e3nn(problem):
    kernel = TorchGateKernel()
    _check(kernel, problem)
    x = torch.randn(problem.batch, problem.in1.dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    want = build_module(E3nnGate(), problem, "cpu")(x)
    torch.testing.assert_close(build_module(kernel, problem, "cpu")(x), want, rtol=1e-12, atol=1e-12)


def test_gate_unsorted_against_reference():
    _check(TorchGateKernel(), UNSORTED_GATE)


def test_float32_gates():
    for kernel, problem in ((TorchLinearKernel(), linear(32, 2, batch=64)), (TorchGateKernel(), gate(32, 2, batch=64))):
        result = run_gate(kernel, problem, build_module(kernel, problem, "cpu"), "cpu", ["fwd", "fwd+bwd"])
        assert not result.failures and not result.crashed


def test_unsupported_give_reasons():
    bad_gate = Problem("gate", "2x0e+2x1o", "2x0e+2x1o")
    for kernel, problem in ((TorchLinearKernel(), mimo(2)), (TorchLinearKernel(), gate(2, 2)),
                            (TorchGateKernel(), linear(2, 2)), (TorchGateKernel(), bad_gate)):
        reason = kernel.supports(problem, "cpu")
        assert isinstance(reason, str) and reason


def test_flops():
    assert TorchLinearKernel().flops(linear(32, 2, batch=10)) == 2 * 10 * 32 * 32 * 9
    assert TorchGateKernel().flops(gate(4, 2, batch=1)) > 0


def test_e3nn_gate_refuses_unsorted_input_it_would_misread():
    from tpbench.spec.problem import Problem
    from tpbench_kernels.libraries.e3nn import E3nnGate

    unsorted = Problem("gate", "2x0e+3x0o+1x0e+2x0e+3x0e+2x1o+3x2e", "2x0e+3x0o+1x0e+2x1o+3x2e")
    assert "sorted" in E3nnGate().supports(unsorted, "cpu")


def test_linear_kernels_count_the_same_work():
    from tpbench.spec import shapes
    from tpbench.kernel.registry import Registry

    reg = Registry.default()
    problem = shapes.linear(8, 2, batch=10)
    counts = {reg.get(n).flops(problem) for n in ("torch-linear", "e3nn-linear", "cue-linear.naive.mul_ir")}
    assert counts == {2.0 * 8 * 8 * (1 + 3 + 5) * 10}
