"""mace-torch's layer as the tpbench model block: the same weights, the same energies and forces.

A ``mace.modules.MACE`` of the block's configuration (random weights, one
element) has, in each interaction after the first, exactly the block's
operations: ``linear_up`` (e3nn ``o3.Linear``), edge harmonics (component
normalisation), the Bessel basis times the polynomial envelope, the radial
MLP (e3nn ``FullyConnectedNet``), the channelwise conv TP scattered into
receivers, ``linear`` / ``avg_num_neighbors``, the symmetric contraction and
``linear`` of the product block, and a linear readout. :func:`block_weights`
writes that layer's weights as the block's flat weight vector:

* linears: e3nn's flat weights, as they are;
* radial MLP: e3nn normalises its activation, ``φ = c · silu`` (``c`` =
  ``act.cst``); the block uses plain ``silu``, so the second and third
  weight matrices are multiplied by ``c`` — the same function;
* conv weights: MACE orders its TP instructions by output block, the block
  (tpbench's channelwise recipe) in the ``(in1, in2)`` loop order — the radial
  output columns are permuted; and MACE's edge vector points sender ->
  receiver, the block's receiver -> sender: ``Y_l(−r) = (−1)^l Y_l(r)``, so
  the columns of paths with odd ``l`` of the harmonics change sign;
* symmetric contraction: MACE's coupling basis (``U_matrix_real``) is not
  tpbench's (:mod:`tpbench.oracle.references.symmetric`), but both span the
  symmetric equivariant maps of each order; the block's weights are the least
  squares solution on random features, channel by channel (its residual is
  returned: ~1e-15 when the spans agree).

Left out, precisely (what a whole MACE adds): the first layer (a scalar
species embedding as input, no residual), each layer's residual skip TP
(``FullyConnectedTensorProduct(h, species)`` added after the product: passed
here as ``sc=None``), the last layer's non-linear readout, the sum over layers
and the atomic reference energies. The radial MLP is as deep as the block's
(``radial_MLP = [R, R]``; MACE-MP uses ``[64, 64, 64]``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tpbench.oracle.references import reference_for
from tpbench.spec.model_block import block_params, part_problems, weight_sizes
from tpbench.spec.paths import channelwise_paths
from tpbench.spec.problem import Problem

LAYER = 1  # the second interaction: hidden-irreps input, linear readout (of three)


def mace_model(problem: Problem, interactions: int = 3):
    """A random-weight ``mace.modules.MACE`` in the current default dtype with the block's configuration."""
    from e3nn import o3
    from mace import modules

    q = block_params(problem)
    mul, L_hidden, L_sh, nu, R, nb = (q[k] for k in ("mul", "L_hidden", "L_sh", "correlation", "radial", "bessel"))
    hidden = "+".join(f"{mul}x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(L_hidden + 1))
    return modules.MACE(
        r_max=float(dict(problem.graph)["cutoff"]), num_bessel=nb, num_polynomial_cutoff=5, max_ell=L_sh,
        interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        num_interactions=interactions, num_elements=1, hidden_irreps=o3.Irreps(hidden),
        MLP_irreps=o3.Irreps("16x0e"), atomic_energies=np.zeros(1), avg_num_neighbors=float(q["avg_neighbors"]),
        atomic_numbers=[6], correlation=nu, gate=torch.nn.functional.silu, radial_MLP=[R, R])


def mace_layer_energy(model, pos: torch.Tensor, h: torch.Tensor, senders, receivers, shifts: torch.Tensor,
                      layer: int = LAYER) -> torch.Tensor:
    """Per-atom energies ``(N, 1)`` of MACE's layer ``layer`` on hidden features ``h``, its skip TP left out.

    ``shifts``: the block's (receiver -> sender) edge shifts; MACE's vectors are their opposite.
    """
    from mace.modules.utils import get_edge_vectors_and_lengths

    edge_index = torch.stack([senders, receivers])
    attrs = torch.ones(len(pos), 1, dtype=pos.dtype)
    vectors, lengths = get_edge_vectors_and_lengths(pos, edge_index, -shifts)
    edge_attrs = model.spherical_harmonics(vectors)
    edge_feats, cutoff = model.radial_embedding(lengths, attrs, edge_index, model.atomic_numbers)
    feats, _ = model.interactions[layer](node_attrs=attrs, node_feats=h, edge_attrs=edge_attrs,
                                         edge_feats=edge_feats, edge_index=edge_index, cutoff=cutoff)
    feats = model.products[layer](node_feats=feats, sc=None, node_attrs=attrs)
    return model.readouts[layer](feats)


def _radial(inter, problem: Problem) -> list[torch.Tensor]:
    net = inter.conv_tp_weights
    layers = [getattr(net, f"layer{i}") for i in range(3)]
    c = [1.0] + [float(layers[i - 1].act.cst) for i in (1, 2)]
    for layer in layers:
        if abs(layer.var_in - 1) > 0 or abs(layer.var_out - 1) > 0:
            raise ValueError("radial MLP with non-unit variances: not the block's")
    W = [layer.weight.detach() * ci for layer, ci in zip(layers, c)]
    conv = part_problems(problem)["conv"]
    paths = channelwise_paths(conv.in1, conv.in2, conv.out)
    offsets, start = {}, 0  # MACE orders its instructions by output block, the block by (in1, in2) loop
    for ins in inter.conv_tp.instructions:
        offsets[(ins.i_in1, ins.i_in2, ins.i_out)] = start
        start += math.prod(ins.path_shape)
    columns, sign = [], []
    for p in paths.paths:
        first = offsets[(p.i1, p.i2, p.i_out)]
        columns += range(first, first + p.weight_numel)
        sign += [(-1.0) ** paths.irreps_in2[p.i2].ir.l] * p.weight_numel
    W[2] = W[2][:, columns] * torch.tensor(sign, dtype=W[2].dtype)
    return [w.reshape(-1) for w in W]


def sc_weights(product, problem: Problem, samples: int = 64, seed: int = 0) -> tuple[torch.Tensor, float]:
    """The block's symmetric-contraction weights reproducing MACE's (least squares), and the fit's residual.

    Every channel sees the same random features, so one design matrix (the block's basis maps, one
    column per basis weight) serves all channels: each channel's MACE output is one right-hand side.
    """
    from tpbench.spec.shapes import symmetric_contraction

    q = block_params(problem)
    mul, d = q["mul"], (q["L_sh"] + 1) ** 2
    one = symmetric_contraction(1, q["L_sh"], q["L_hidden"], q["correlation"], 1, False, samples, "float64")
    ref = reference_for("symmetric_contraction", one).double()
    A = torch.randn(samples, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    species = torch.zeros(samples, dtype=torch.long)
    eye = torch.eye(ref.native.weight_numel, dtype=torch.float64)
    F = torch.stack([ref(A, species, e) for e in eye], -1).reshape(-1, len(eye))  # (samples·D_out, n_b)
    with torch.no_grad():
        out = product.symmetric_contractions(A[:, None, :].expand(samples, mul, d).contiguous(),
                                             torch.ones(samples, 1, dtype=torch.float64))
    blocks, start = [], 0
    for l in range(q["L_hidden"] + 1):  # MACE's output: mul x (0e, 1o, ...), mul_ir
        blocks.append(out[:, start:start + mul * (2 * l + 1)].reshape(samples, mul, 2 * l + 1))
        start += mul * (2 * l + 1)
    Y = torch.cat(blocks, -1).transpose(0, 1).reshape(mul, -1).T  # (samples·D_out, mul)
    W = torch.linalg.lstsq(F, Y).solution  # (n_b, mul)
    residual = ((F @ W - Y).norm() / Y.norm()).item()
    return W.reshape(-1), residual  # the block's layout: (num_elements = 1, n_basis, mul)


def block_weights(model, problem: Problem, layer: int = LAYER) -> tuple[torch.Tensor, float]:
    """MACE layer ``layer``'s weights as the block's weight vector (module docstring), and the SC fit residual."""
    inter, product, readout = model.interactions[layer], model.products[layer], model.readouts[layer]
    sc, residual = sc_weights(product, problem)
    r1, r2, r3 = _radial(inter, problem)
    parts = {"up": inter.linear_up.weight, "radial1": r1, "radial2": r2, "radial3": r3, "mix": inter.linear.weight,
             "sc": sc, "post": product.linear.weight, "readout": readout.linear.weight}
    sizes = weight_sizes(problem, sc.numel())
    for name, n in sizes:
        if parts[name].numel() != n:
            raise ValueError(f"MACE's {name} has {parts[name].numel()} weights, the block {n}")
    return torch.cat([parts[name].detach().reshape(-1).to(torch.float64) for name, _ in sizes]), residual

