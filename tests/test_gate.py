"""Every built-in kernel passes the correctness gate on CPU; a wrong kernel is caught and not timed."""

import pytest
import torch

from tpbench.spec import shapes
from tpbench.oracle.correctness import run_gate
from tpbench.kernel.base import build_module
from tpbench.kernel.registry import Registry
from tpbench.run.case import Case
from tpbench.run.runner import Runner
from tpbench.run.sweep import sweep
from tpbench.results.store import RunStore
from tpbench_kernels.cg.dense import TorchCGKernel

PROBLEMS = [
    shapes.mimo(2, batch=40), shapes.mimo_ap(2, batch=40), shapes.siso(2, batch=40), shapes.simo(1, batch=40),
    shapes.channelwise(4, 2, 2, batch=40), shapes.fully_connected(3, 2, batch=40), shapes.linear(4, 2, batch=40),
    shapes.gate(4, 2, batch=40), shapes.model("nequip-l1", batch=24), shapes.model("diffdock-l1", batch=24),
]
REGISTRY = Registry.default()
PASSES = ["fwd", "fwd+bwd", "fwd+bwd+bwd"]


def _pairs():
    for problem in PROBLEMS:
        p64 = problem.replace(dtype="float64")
        for k in REGISTRY.kernels.values():
            if k.available() is None and k.supports(p64, "cpu") is None and k.exactly_equivariant:
                yield pytest.param(k, p64, id=f"{k.name}-{p64.label}")


@pytest.mark.parametrize("kernel,problem", list(_pairs()))
def test_builtin_passes_gate_float64(kernel, problem):
    gate = run_gate(kernel, problem, build_module(kernel, problem, "cpu"), "cpu",
                    [p for p in PASSES if p in kernel.passes])
    assert not gate.failures and not gate.crashed, (gate.failures, gate.crashed)
    assert gate.errors["fwd"] <= 1e-10 and gate.errors["rotation"] <= 1e-10
    assert len(gate.output_variance) == len(kernel.native(problem).irreps_out)


class WrongSignCG(TorchCGKernel):
    """Flips the sign of the 1o x 1o -> 1e CG block: still equivariant, wrong math."""

    name = "wrong-sign-cg"

    def build(self, problem, device, dtype):
        module = super().build(problem, device, dtype)
        for g, group in enumerate(module.groups):
            if group[3] == 3 and group[5] == 3:  # d1 = d2 = 3
                M = getattr(module, f"M{g}")
                M[:, 1:4] *= -1  # columns: 0e [0:1], 1e [1:4], 2e [4:9]
        return module


def test_wrong_sign_is_incorrect_and_never_timed(tmp_path):
    problem = shapes.mimo_ap(1, batch=64)
    kernel = WrongSignCG()
    gate = run_gate(kernel, problem, build_module(kernel, problem, "cpu"), "cpu", ["fwd"])
    assert gate.errors["rotation"] < 1e-5  # equivariance alone would not catch it
    assert gate.errors["fwd"] > 0.1
    store = RunStore.create(tmp_path / "run", {})
    runner = Runner(store, {"budget_s": 0.05, "warmup_s": 0.0})
    sweep(runner, [Case(problem, kernel, "fwd", "eager", "cpu"), Case(problem, kernel, "fwd+bwd", "eager", "cpu")],
               progress=False)
    records = store.records()
    assert [r["status"] for r in records] == ["incorrect", "incorrect"]
    assert all(r.get("median_ms") is None and r["errors"]["fwd"] > 0.1 for r in records)
    assert "fwd error" in records[0]["reason"]


def test_full_batch_catches_indexing_overflow():
    class Overflow(TorchCGKernel):
        name = "overflow-cg"

        def build(self, problem, device, dtype):
            module = super().build(problem, device, dtype)

            class Wrapped(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.m = module

                def forward(self, x1, x2):
                    out = self.m(x1, x2)
                    if out.shape[0] > 1000:  # rows past a 32-bit-style boundary come out wrong
                        out = out.clone()
                        out[1000:] = 0
                    return out

            return Wrapped()

    problem = shapes.mimo(1, batch=4000)
    gate = run_gate(Overflow(), problem, build_module(Overflow(), problem, "cpu"), "cpu", ["fwd"])
    assert gate.errors["fwd"] < 1e-5 and gate.errors["full_batch"] > 0.1
    assert "full_batch" in gate.failures["fwd"]


@pytest.mark.parametrize("name", ["torch-cg", "gaunt-grid", "gaunt-fft", "vector-gaunt-grid"])
def test_all_parity_combinations_pass_the_gate(name):
    kernel = REGISTRY.get(name)
    problem = shapes.mimo_all(1, batch=16, dtype="float64")
    assert kernel.supports(problem, "cpu") is None
    gate = run_gate(kernel, problem, build_module(kernel, problem, "cpu"), "cpu", ["fwd", "fwd+bwd"])
    assert not gate.failures and not gate.crashed, gate.failures


class NaNCG(TorchCGKernel):
    name = "nan-cg"

    def build(self, problem, device, dtype):
        inner = super().build(problem, device, dtype)

        class NaNs(torch.nn.Module):
            def forward(self, *args):
                return inner(*args) * float("nan")

        return NaNs()


def test_a_nan_output_fails_the_gate():
    # max() over blocks would swallow a NaN error; block_error returns inf for a non-finite output instead.
    problem = shapes.mimo(2, batch=40)
    gate = run_gate(NaNCG(), problem, build_module(NaNCG(), problem, "cpu"), "cpu", PASSES)
    assert set(gate.failures) == set(PASSES) and gate.errors["fwd"] == float("inf")
