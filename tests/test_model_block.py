"""The model_block operation: its problem, its reference, the block kernels and their gate."""

from __future__ import annotations

import math

import pytest
import torch

from tpbench.kernel.base import build_module
from tpbench.oracle.correctness import run_gate
from tpbench.oracle.references import reference_for
from tpbench.spec.errors import UserError
from tpbench.spec.graphs import build_graph
from tpbench.spec.model_block import part_problems
from tpbench.spec.shapes import make_problem
from tpbench_kernels.conv import convolution, harmonics
from tpbench_kernels.model import block
from tpbench_kernels.symmetric import contraction

PASSES = ["fwd", "fwd+bwd", "fwd+bwd+bwd"]


def tiny(dtype="float32", **kw):
    return make_problem("model_block", config="tiny", atoms=8, dtype=dtype, **kw)


def by_name(name):
    return next(k for k in block.KERNELS if k.name == name)


def test_problem_id_follows_config_and_graph():
    a, b = tiny(), make_problem("model_block", config="mace-mp-small", atoms=8)
    c = tiny(structure="fcc-cu")
    assert len({a.id, b.id, c.id}) == 3
    assert a.irreps_in1 == "1x1o+4x0e+4x1o" and a.irreps_in2 == "1x1o" and a.irreps_out == "1x0e"
    parts = part_problems(a)
    assert dict(parts["conv"].graph)["hash"] == dict(a.graph)["hash"]
    assert parts["sc"].irreps_in1 == "4x0e+4x1o+4x2e" and parts["sc"].irreps_out == "4x0e+4x1o"
    with pytest.raises(UserError, match="unknown model block config"):
        make_problem("model_block", config="huge")


def test_kernel_names_are_unique_and_glob_safe():
    names = [k.name for k in block.KERNELS]
    assert len(names) == len(set(names))
    assert not any(c in n for n in names for c in "[],*? ")


@pytest.mark.parametrize("name", ["block+conv-e3nn+torch-sc+sh-e3nn",
                                  "block+conv-cue-indexed.naive.ir_mul+cue-sc.naive+sh-cue.naive"])
def test_gate_passes_float32(name):
    parts = name.split("+")[1:]
    if name not in {k.name for k in block.KERNELS}:  # compose it: any conv x sc x sh combination is a kernel
        pick = lambda ks, n: next(k for k in ks if k.name == n)  # noqa: E731
        kernel = block.Block(pick(convolution.KERNELS, parts[0]), pick(contraction.KERNELS, parts[1]),
                             pick(harmonics.KERNELS, parts[2]))
    else:
        kernel = by_name(name)
    if kernel.available():
        pytest.skip(kernel.available())
    p = tiny()
    assert kernel.supports(p, "cpu") is None
    result = run_gate(kernel, p, build_module(kernel, p, "cpu"), "cpu", PASSES)
    assert all(result.verdict(x) == ("ok", None) for x in PASSES), (result.errors, result.failures)
    assert result.errors["fwd"] < 1e-5 and result.errors["rotation"] < 1e-5


class WrongNormSH(harmonics.E3nnSH):
    """Claims e3nn's component normalisation but returns the orthonormal one: a block with it is wrong."""

    name = "sh-wrong-norm"

    def build(self, problem, device, dtype):
        inner = super().build(problem, device, dtype)
        return lambda r: inner(r) / math.sqrt(4 * math.pi)


def test_gate_fails_a_block_with_a_wrong_part():
    conv = next(k for k in convolution.KERNELS if k.name == "conv-e3nn")
    sc = next(k for k in contraction.KERNELS if k.name == "torch-sc")
    kernel = block.Block(conv, sc, WrongNormSH())
    p = tiny("float64")
    result = run_gate(kernel, p, build_module(kernel, p, "cpu"), "cpu", ["fwd"])
    status, why = result.verdict("fwd")
    assert status == "incorrect" and "fwd error" in why


def test_a_conv_that_changes_the_math_is_refused_or_labelled():
    gaunt = next(k for k in convolution.KERNELS if k.operation != "conv")  # a conv-mimo Gaunt conv: no reference
    sc = next(k for k in contraction.KERNELS if k.name == "torch-sc")
    kernel = block.Block(gaunt, sc, harmonics.E3nnSH())
    assert "changes the model" in kernel.supports(tiny(), "cpu")
    # The registered blocks with another conv are judged by their own oracle and say so in every record.
    for k in block.KERNELS:
        if isinstance(k, block.Block) and k.conv.operation != "conv":
            assert k.operation != "model_block"
            described = k.describe()
            assert described.get("changes_model") or described.get("stub_of") == "conv"


def test_crystal_energy_invariant_and_forces_rotate():
    """On the real diamond geometry (with its periodic shifts), float64: E(R·x) = E(x), F(R·x) = R·F(x)."""
    p = tiny("float64")
    ref = reference_for("model_block", p)
    g = dict(p.graph)
    graph = build_graph(g["structure"], int(g["reps"]), float(g["cutoff"]), g["order"])
    pos = torch.as_tensor(graph.positions)
    shifts = torch.as_tensor(graph.vectors) - (pos[graph.senders] - pos[graph.receivers])
    gen = torch.Generator().manual_seed(1)
    h = torch.randn(len(pos), ref.native.irreps_in1.dim - 3, generator=gen, dtype=torch.float64)
    w = torch.randn(ref.native.weight_numel, generator=gen, dtype=torch.float64)
    kernel = by_name("block+conv-unfused.cg-sparse+torch-sc+sh-e3nn")
    module = build_module(kernel, p, "cpu").double()

    def energy_forces(f, pos, h, shifts):
        pos = pos.clone().requires_grad_(True)
        E = f(torch.cat([pos, h], 1), shifts, w).sum()
        return E.detach(), -torch.autograd.grad(E, pos)[0]

    from e3nn import o3

    from tpbench.spec.precision import default_dtype

    with default_dtype(torch.float64):  # e3nn builds D from default-dtype generators
        R = o3.rand_matrix(dtype=torch.float64)
        Dh = o3.Irreps("4x0e+4x1o").D_from_matrix(R)
    E0, F0 = energy_forces(ref, pos, h, shifts)
    E1, F1 = energy_forces(module, pos, h, shifts)
    E2, F2 = energy_forces(module, pos @ R.T, h @ Dh.T, shifts @ R.T)
    assert abs(E0) > 1e-6 and F0.abs().max() > 1e-6  # a real signal, not zeros
    assert torch.allclose(E1, E0, rtol=1e-10, atol=0) and torch.allclose(F1, F0, rtol=1e-9, atol=1e-12)
    assert torch.allclose(E2, E0, rtol=1e-10, atol=0) and torch.allclose(F2, F0 @ R.T, rtol=1e-9, atol=1e-12)
    assert torch.allclose(F0.sum(0), torch.zeros(3, dtype=torch.float64), atol=1e-10)  # translation invariance: no net force


def test_amdahl_prediction_from_measured_times():
    from tpbench.metrics.block_prediction import amdahl, predictions

    # baseline block 100 ms, 60 ms of it in the conv (stub block 40 ms); a conv twice as slow alone.
    rows = {r.kernel: r for r in predictions({"base": 10.0, "slow": 20.0}, {"base": 100.0, "slow": 150.0}, 40.0, "base")}
    assert rows["base"].predicted == pytest.approx(1.0) and rows["base"].fraction == pytest.approx(0.6)
    assert rows["slow"].micro_ratio == pytest.approx(2.0) and rows["slow"].predicted == pytest.approx(1.6)
    assert rows["slow"].block_ratio == pytest.approx(1.5) and rows["slow"].error == pytest.approx(1.6 / 1.5 - 1)
    assert predictions({"base": 1.0}, {"base": 10.0}, 12.0, "base")[0].fraction == 0.0  # noisy stub: clamped
    with pytest.raises(ValueError):
        amdahl(1.5, 2.0)


def test_restricted_reference_is_exact_on_its_atoms():
    """The gate's shortcut: the energies of sampled atoms from the edges into them alone, gradients too."""
    from tpbench.oracle.inputs import make_inputs

    ref = reference_for("model_block", tiny("float64"))
    gen = torch.Generator().manual_seed(3)
    x = make_inputs(ref.native, 8, gen)
    nodes = torch.tensor([0, 5, 7])
    sub = ref.restricted(nodes)
    assert 0 < len(sub.edges) < len(ref.senders)
    xs = [x[0].requires_grad_(True), x[1][sub.edges], x[2]]
    full, part = ref(*x)[nodes], sub(*xs)[nodes]
    assert torch.allclose(full, part, rtol=1e-12, atol=0)
    g_full = torch.autograd.grad(full.sum(), x[0])[0]
    g_part = torch.autograd.grad(part.sum(), x[0])[0]
    assert torch.allclose(g_full, g_part, rtol=1e-10, atol=1e-14)


def test_graph_and_shifts_match_mace_torch():
    """With mace-torch installed (optional): its radius graph of the crystal is the block's, edge vectors included."""
    pytest.importorskip("mace", reason="mace-torch is optional (README: installed with --no-deps)")
    import numpy as np
    from mace import data, tools

    from tpbench.spec.graphs import build_atoms

    p = tiny("float64")
    g = dict(p.graph)
    graph = build_graph(g["structure"], int(g["reps"]), float(g["cutoff"]), g["order"])
    config = data.config_from_atoms(build_atoms(g["structure"], int(g["reps"])))
    item = data.AtomicData.from_config(config, z_table=tools.AtomicNumberTable([6]), cutoff=float(g["cutoff"]))
    snd, rcv = item.edge_index.numpy()
    vec = item.positions.numpy()[rcv] - item.positions.numpy()[snd] + item.shifts.numpy()

    def canon(s, r, v):
        rows = np.round(np.column_stack([s, r, v]), 8)
        return rows[np.lexsort(rows.T[::-1])]

    # MACE's edge_index is (sender, receiver) with vector r_receiver - r_sender + shift; tpbench's vector
    # points from the receiver to the sender, so the same edge has the opposite vector.
    assert np.allclose(canon(snd, rcv, -vec), canon(graph.senders, graph.receivers, graph.vectors), atol=1e-6)
