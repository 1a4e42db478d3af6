"""The float64 Clebsch–Gordan tensor product (the ``cg`` operation).

The CG tensor product of :mod:`tpbench.spec.paths` on the kernel's native
output irreps (for ``full`` that is one block per path), written for clarity,
not speed: one explicit contraction per path, ``z = sum_paths a_path W C (x ⊗ y)``.
"""

from __future__ import annotations

import torch
from e3nn import o3

from tpbench.spec.native import Native
from tpbench.spec.paths import TPPaths, reorder_output, tp_paths
from tpbench.spec.problem import Problem


def _slices(irreps: o3.Irreps) -> list[slice]:
    return list(irreps.slices())


class ReferenceCG(torch.nn.Module):
    """Clear float64 CG tensor product: ``z = sum_paths a_path W C (x ⊗ y)``."""

    def __init__(self, paths: TPPaths, weights: str):
        super().__init__()
        self.paths = paths
        self.weights_mode = weights
        self.native = Native(paths.irreps_in1, paths.irreps_out, paths.irreps_in2, weights,
                             paths.weight_numel, tuple(paths.path_labels()))
        for n, p in enumerate(paths.paths):
            l1, l2, l3 = (paths.irreps_in1[p.i1].ir.l, paths.irreps_in2[p.i2].ir.l, paths.irreps_out[p.i_out].ir.l)
            self.register_buffer(f"cg{n}", o3.wigner_3j(l1, l2, l3, dtype=torch.float64))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        P = self.paths
        batch = x1.shape[:-1]
        s1, s2, so = _slices(P.irreps_in1), _slices(P.irreps_in2), _slices(P.irreps_out)
        out = [x1.new_zeros(*batch, P.irreps_out[i].mul, P.irreps_out[i].ir.dim) for i in range(len(P.irreps_out))]
        offset = 0
        for n, p in enumerate(P.paths):
            C = getattr(self, f"cg{n}").to(x1.dtype)
            m1, d1 = P.irreps_in1[p.i1]
            m2, d2 = P.irreps_in2[p.i2]
            a = x1[..., s1[p.i1]].reshape(*batch, m1, d1.dim)
            b = x2[..., s2[p.i2]].reshape(*batch, m2, d2.dim)
            if p.has_weight:
                W = w[..., offset:offset + p.weight_numel].reshape(*w.shape[:-1], *p.weight_shape)
                offset += p.weight_numel
            if p.mode == "uvw":
                term = torch.einsum("...uvw,ijk,...ui,...vj->...wk", W, C, a, b)
            elif p.mode == "uvu":
                term = torch.einsum("...uv,ijk,...ui,...vj->...uk", W, C, a, b)
            else:  # uvuv: one output channel per (u, v)
                term = torch.einsum("ijk,...ui,...vj->...uvk", C, a, b).reshape(*batch, m1 * m2, -1)
            out[p.i_out] = out[p.i_out] + p.weight * term
        return torch.cat([o.reshape(*batch, -1) for o in out], dim=-1)


def cg(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    paths = tp_paths(problem)
    if native is not None:
        paths = reorder_output(paths, native.irreps_out)
    return ReferenceCG(paths, problem.weights)
