"""The channelwise Gaunt convolution: a MACE conv whose per-edge product is the Gaunt product.

It computes another operation than the CG channelwise conv (``conv``) and is
named so (``conv-gaunt-channelwise``): a model with it is a different model.
On a ``conv`` problem ``mul x s2(L_hidden) ⊗ s2(L_sh)`` (``s2(L)`` =
``0e + 1o + … + L``, parity ``(−1)^l``), per edge ``e = (j -> i)`` and channel ``u``::

    g_{e,u}     = Gaunt(x_{j,u}, y_e)          projection of (Σ x_{j,u,lm} Y_lm)(Σ y_{e,lm} Y_lm)
                                               onto degrees l3 <= L_sh, parity (−1)^l3
    out_{i,u,l3} = Σ_{e -> i} w_{e,u,l3} · g_{e,u,l3}

Output irreps ``mul x s2(L_sh)`` (``mul_ir``); weights per edge ``(L_sh + 1) · mul``,
ordered ``l3``-major (``w[l3 · mul + u]``).

What it drops against the CG conv (:func:`expressivity`): the couplings
``l1 + l2 + l3`` odd (``1o x 1o -> 1e`` …), the outputs above ``L_sh`` and of
the other parity, and one weight per path: the paths into one ``l3`` share
the weight ``w_{e,u,l3}`` with the Gaunt coefficients' fixed ratios.
"""

from __future__ import annotations

import torch
from e3nn import o3

from tpbench.spec.conv import edge_problem
from tpbench.spec.gaunt import gaunt_plan
from tpbench.spec.native import Native
from tpbench.spec.paths import channelwise_paths
from tpbench.spec.problem import Problem

OPERATION = "conv-gaunt-channelwise"


def _s2(L: int, mul: int = 1) -> o3.Irreps:
    return o3.Irreps("+".join(f"{mul}x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(L + 1)))


def shape(problem: Problem) -> tuple[int, int, int] | str:
    """``(mul, L_hidden, L_sh)`` of a channelwise ``s2`` conv, or why it is not one."""
    if problem.op != "conv" or problem.connection != "channelwise" or problem.weights != "per-sample":
        return "channelwise convolutions with per-edge weights only"
    muls = {mul for mul, _ in problem.in1}
    L1 = max(ir.l for _, ir in problem.in1)
    L2 = max(ir.l for _, ir in problem.in2)
    if len(muls) != 1 or problem.in1 != _s2(L1, muls.pop()).simplify() or problem.in2 != _s2(L2):
        return "inputs mul x (0e+1o+…+L) and 1x(0e+1o+…+L_sh) only"
    return problem.in1[0].mul, L1, L2


def per_channel_problem(problem: Problem, rows: int) -> Problem:
    """The full (multiplicity-1) Gaunt TP of one channel and one edge: ``s2(L_hidden) ⊗ s2(L_sh) -> s2(L_sh)``."""
    from tpbench.spec.shapes import custom

    mul, L1, L2 = shape(problem)
    return custom(str(_s2(L1)), str(_s2(L2)), str(_s2(L2)), op="tp", connection="full", weights="none",
                  batch=rows, dtype=problem.dtype)


def native(problem: Problem) -> Native:
    mul, L1, L2 = shape(problem)
    edges = problem.batch
    from tpbench.spec.conv import num_nodes

    n = num_nodes(problem)
    return Native(problem.in1, _s2(L2, mul), problem.in2, "per-sample", mul * (L2 + 1),
                  path_labels(problem), rows=(n, edges, edges, n))


def path_labels(problem: Problem) -> tuple[str, ...]:
    """The ``(l1, l2 -> l3)`` couplings computed (once per channel)."""
    return tuple(gaunt_plan(per_channel_problem(problem, 1)).labels())


def expressivity(problem: Problem) -> str:
    """What the Gaunt conv drops against the CG channelwise conv of the same problem, in words."""
    cg = channelwise_paths(edge_problem(problem).in1, problem.in2, edge_problem(problem).out)
    mine = path_labels(problem)
    mul = shape(problem)[0]
    return (f"Gaunt conv: {len(mine)} of {len(cg.paths)} CG paths (l1+l2+l3 odd and l3 > L_sh dropped); "
            f"{len(_s2(shape(problem)[2]))} per-edge weights per channel instead of "
            f"{cg.weight_numel // mul} (paths into one l3 share a weight)")


def channels(x, irreps: o3.Irreps):
    """``(..., irreps.dim)`` in ``mul_ir`` -> ``(..., mul, D)``: each channel's signal ``0e, 1o, …`` side by side."""
    blocks = [x[..., sl].unflatten(-1, (mul, ir.dim)) for (mul, ir), sl in zip(irreps, irreps.slices())]
    return blocks[0] if len(blocks) == 1 else torch.cat(blocks, -1)


def from_channels(z, irreps: o3.Irreps):
    """The inverse of :func:`channels`: ``(..., mul, D)`` -> ``(..., irreps.dim)`` in ``mul_ir``."""
    out, start = [], 0
    for mul, ir in irreps:
        out.append(z[..., start:start + ir.dim].flatten(-2))
        start += ir.dim
    return torch.cat(out, -1)


def weigh(z, w, L: int):
    """``z (E, mul, D)`` times the per-edge weights ``w (E, (L+1)·mul)`` (``l3``-major), per degree block."""
    mul = z.shape[-2]
    w = w.unflatten(-1, (L + 1, mul))
    return torch.cat([z[..., l * l:(l + 1) ** 2] * w[..., l, :, None] for l in range(L + 1)], -1)
