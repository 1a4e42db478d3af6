"""mace-torch (optional) against the tpbench block in float64: the same layer, the same weights, the same
energies and forces (``tpbench_kernels.model.mace_map`` says what maps and what a whole MACE adds)."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("mace", reason="mace-torch is optional (README: installed with --no-deps)")

from tpbench.kernel.base import build_module  # noqa: E402
from tpbench.oracle.references import reference_for  # noqa: E402
from tpbench.spec.graphs import build_graph  # noqa: E402
from tpbench.spec.precision import default_dtype  # noqa: E402
from tpbench.spec.shapes import make_problem  # noqa: E402
from tpbench_kernels.model import block, mace_map  # noqa: E402


def crystal(p):
    g = dict(p.graph)
    graph = build_graph(g["structure"], int(g["reps"]), float(g["cutoff"]), g["order"])
    pos = torch.as_tensor(graph.positions)
    snd, rcv = torch.as_tensor(graph.senders), torch.as_tensor(graph.receivers)
    return pos, snd, rcv, torch.as_tensor(graph.vectors) - (pos[snd] - pos[rcv])


def energy_forces(f, pos):
    x = pos.clone().requires_grad_(True)
    e = f(x)
    return e.detach(), -torch.autograd.grad(e.sum(), x)[0]


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("config", ["tiny", "tiny-scalar"])
def test_mace_layer_equals_the_block_in_float64(config):
    p = make_problem("model_block", config=config, atoms=8, cutoff=3.0, dtype="float64")
    with default_dtype(torch.float64):
        torch.manual_seed(0)
        model = mace_map.mace_model(p)
    w, residual = mace_map.block_weights(model, p)
    assert residual < 1e-12  # MACE's and tpbench's symmetric-contraction bases span the same maps
    pos, snd, rcv, shifts = crystal(p)
    h = torch.randn(len(pos), p.in1.dim - 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    e_mace, F_mace = energy_forces(lambda x: mace_map.mace_layer_energy(model, x, h, snd, rcv, shifts), pos)
    assert e_mace.abs().max() > 1e-6 and F_mace.abs().max() > 1e-6  # a real signal
    ref = reference_for("model_block", p)
    kernel = next(k for k in block.KERNELS if k.name == "block+conv-e3nn+torch-sc+sh-e3nn")
    module = build_module(kernel, p, "cpu").double()
    for f in (ref, module):
        e, F = energy_forces(lambda x: f(torch.cat([x, h], 1), shifts, w), pos)
        assert rel(e, e_mace) < 1e-10 and rel(F, F_mace) < 1e-10
    # What the block leaves out is real: MACE's residual skip TP changes the layer's energies.
    inter = model.interactions[mace_map.LAYER]
    with torch.no_grad():
        sc = inter.skip_tp(h, torch.ones(len(pos), 1, dtype=torch.float64))
    assert sc.norm() > 1e-3
