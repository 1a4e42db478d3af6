"""The convolution: its float64 reference, its gate, and every conv kernel that runs on a CPU."""

import math

import pytest
import torch

from tpbench.spec.conv import conv_bytes, edge_problem, graph_of
from tpbench.oracle.conv_gate import run_conv_gate
from tpbench.oracle.correctness import run_gate
from tpbench.oracle.inputs import make_inputs
from tpbench.kernel import build_module
from tpbench.spec.paths import tp_paths
from tpbench.oracle.references import reference_for
from tpbench.oracle.references.cg import ReferenceCG
from tpbench.spec.shapes import make_problem
from tpbench_kernels.conv import convolution as conv_kernels

PASSES = ["fwd", "fwd+bwd", "fwd+bwd+bwd"]


def tiny(dtype="float64", **kw):
    """Diamond, one cubic cell (8 atoms), 3 Å: 28 neighbours each, 224 edges."""
    return make_problem("conv", **{**dict(structure="diamond", atoms=8, mul=4, L_hidden=1, L_sh=2, cutoff=3.0,
                                          dtype=dtype), **kw})


def test_reference_is_the_sum_of_per_edge_products():
    p = tiny()
    ref = reference_for("conv", p)
    x, y, w = make_inputs(ref.native, p.batch, torch.Generator().manual_seed(0))
    assert x.shape[0] == 8 and y.shape[0] == w.shape[0] == 224
    tp = ReferenceCG(tp_paths(edge_problem(p)), "per-sample")
    g = graph_of(p)
    want = torch.zeros(8, ref.native.irreps_out.dim, dtype=torch.float64)
    for e in range(p.batch):  # one edge at a time, straight from the definition
        s, r = int(g.senders[e]), int(g.receivers[e])
        want[r] += tp(x[s:s + 1], y[e:e + 1], w[e:e + 1])[0]
    assert torch.allclose(ref(x, y, w), want, rtol=0, atol=1e-12)


def cpu_kernels():
    return [k for k in conv_kernels.KERNELS if k.available() is None and "cpu" in k.devices]


def mimo_conv():
    """The full ``mimo(1)`` TP per edge (no weights): CG, Gaunt, vector Gaunt and matrix kernels all run it."""
    return make_problem("conv-mimo", structure="diamond", atoms=8, L=1, cutoff=3.0, dtype="float64")


@pytest.mark.parametrize("kernel", cpu_kernels(), ids=lambda k: k.name)
def test_every_cpu_conv_kernel_passes_its_gate(kernel):
    p = tiny() if kernel.supports(tiny(), "cpu") is None else mimo_conv()
    if kernel.supports(p, "cpu"):
        pytest.fail(f"{kernel.name} runs no conv problem: {kernel.supports(p, 'cpu')}")
    passes = [x for x in PASSES if x in kernel.passes]
    gate = run_gate(kernel, p, build_module(kernel, p, "cpu"), "cpu", passes)
    assert not gate.failures and not gate.crashed, (gate.failures, gate.crashed)
    assert set(gate.errors) >= {"fwd", "rotation", "fwd+bwd"} and ("inversion" in gate.errors) == (
        kernel.symmetry == "O(3)")
    assert max(gate.errors.values()) < 1e-12
    assert kernel.operation == ("conv" if kernel.tp.operation == "cg" else f"conv-{kernel.tp.operation}") if hasattr(
        kernel, "tp") else kernel.operation == "conv"


def test_float32_kernel_on_a_larger_graph_passes_on_sampled_receivers():
    p = make_problem("conv", structure="water", atoms=81, mul=8, L_hidden=1, L_sh=2, cutoff=5.0, order="random")
    kernel = next(k for k in conv_kernels.KERNELS if k.name == "conv-unfused.torch-cg")
    gate = run_gate(kernel, p, build_module(kernel, p, "cpu"), "cpu", PASSES)
    assert not gate.failures and gate.errors["fwd"] < 1e-6 and len(gate.output_variance) == 7


class _Broken(torch.nn.Module):
    """A conv that gets one thing wrong: ``how`` says what."""

    def __init__(self, inner, how):
        super().__init__()
        self.inner, self.how = inner, how

    def forward(self, x, y, w):
        m = self.inner
        if self.how == "nan":
            return m(x, y, w) * float("nan")
        if self.how == "half-grad-y":  # forward right, gradient of the edge features halved
            return m(x, 0.5 * y + 0.5 * y.detach(), w)
        messages = m.tp(x[m.senders], y, w)
        if self.how == "drop-last-edge":
            messages, receivers = messages[:-1], m.receivers[:-1]
        elif self.how == "scatter-to-senders":
            receivers = m.senders
        return messages.new_zeros(m.n, messages.shape[-1]).index_add(0, receivers, messages)


@pytest.mark.parametrize("how, failing", [
    ("drop-last-edge", "fwd"), ("scatter-to-senders", "fwd"), ("nan", "fwd"), ("half-grad-y", "fwd+bwd"),
])
def test_a_wrong_conv_fails_its_gate(how, failing):
    p = tiny()
    kernel = next(k for k in conv_kernels.KERNELS if k.name == "conv-unfused.torch-cg")
    module = _Broken(build_module(kernel, p, "cpu"), how)
    gate = run_conv_gate(kernel, p, module, "cpu", PASSES)
    assert failing in gate.failures and "fwd+bwd+bwd" in gate.failures
    assert ("fwd" in gate.failures) == (failing == "fwd")


def test_segment_kernel_refuses_unsorted_edges_and_double_backward():
    kernel = next(k for k in conv_kernels.KERNELS if k.name.startswith("conv-segment"))
    assert "receiver-sorted" in kernel.supports(tiny(order="random"), "cpu")
    assert "fwd+bwd+bwd" not in kernel.passes and kernel.deterministic


def test_conv_kernels_refuse_other_operations_and_name_themselves_uniquely():
    names = [k.name for k in conv_kernels.KERNELS]
    assert len(names) == len(set(names))
    assert all(k.supports(make_problem("channelwise", mul=4, L_hidden=1, L_sh=2), "cpu") for k in
               conv_kernels.KERNELS if k.available() is None)
    assert "conv-unfused.e3nn-cg-channelwise" in names and "conv-oeq.deterministic" in names


def test_work_counts_gather_tp_and_scatter():
    p = tiny(dtype="float32")
    kernel = next(k for k in conv_kernels.KERNELS if k.name == "conv-unfused.torch-cg")
    tp_flops = kernel.tp.flops(edge_problem(p))
    assert kernel.flops(p) == tp_flops + p.batch * p.out.dim
    native = kernel.native(p)
    d1, d2, nw, do = native.irreps_in1.dim, native.irreps_in2.dim, native.weight_numel, native.irreps_out.dim
    assert kernel.bytes(p) == 4 * (8 * (d1 + do) + 224 * (d2 + nw)) + 16 * 224
    assert conv_bytes(p, (d1, d2, nw, do), 4) < 4 * 224 * (d1 + d2 + nw + do)  # nodes are read once, not per edge
    assert math.isclose(native.rows[0], 8) and native.rows[1:] == (224, 224, 8)


def test_a_conv_case_runs_end_to_end_and_records_its_graph(tmp_path):
    from tpbench.results.store import RunStore
    from tpbench.run.case import Case
    from tpbench.run.runner import Runner
    from tpbench.run.sweep import sweep

    p = tiny(dtype="float32")
    kernel = next(k for k in conv_kernels.KERNELS if k.name == "conv-e3nn")
    store = RunStore.create(tmp_path / "run", {})
    sweep(Runner(store, {"budget_s": 0.05, "warmup_s": 0.0}),
          [Case(p, kernel, "fwd", "eager", "cpu"), Case(p, kernel, "fwd+bwd+bwd", "eager", "cpu")], progress=False)
    records = store.records()
    assert [r["status"] for r in records] == ["ok", "ok"], [r.get("reason") for r in records]
    r = records[1]
    assert r["problem"]["graph"]["hash"] == graph_of(p).hash and r["batch"] == 224
    assert r["deterministic"] is False and r["scatter"] == "scatter_add_"
    assert r["flops"] > 0 and r["bytes"] > 0 and r["errors"]["fwd+bwd+bwd"] < 3e-4
