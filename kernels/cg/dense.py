"""Native PyTorch Clebsch–Gordan tensor product, written for speed.

Math: :mod:`tpbench.spec.paths` (e3nn's normalisation, weights in e3nn's order).

Strategy: paths are grouped by their input pair ``(i1, i2)``. For each pair
one dense matrix ``M[(i, j), K]`` stacks the CG tensors of all its paths
(scaled by their path weights) along the output axis, so the pair costs one
outer product ``x_{u i} y_{v j}`` and one matrix product,

    S_{b u v K} = sum_{i j} x_{b u i} y_{b v j} M_{(i j) K},

after which each path's slice of ``K`` is combined with its weights
(``uvuv``: none; ``uvu``: ``w_{b u v}`` summed over ``v``; ``uvw``:
``W_{u v w}`` as a matrix product). The output blocks are concatenated once.

Cost per sample: ``sum_pairs mul1 mul2 d1 d2 (2 sum_paths d3)`` multiply-adds
for the dense contraction — ``O(L^6)`` for ``mimo(L)`` like any dense CG — plus
the weight contraction.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from e3nn import o3

from tpbench.kernel.base import Kernel
from tpbench.spec.work import cg_flops
from tpbench.spec.paths import TPPaths, tp_paths
from tpbench.spec.problem import Problem


class TorchCG(torch.nn.Module):
    def __init__(self, paths: TPPaths):
        super().__init__()
        self.p = paths
        s1, s2 = list(paths.irreps_in1.slices()), list(paths.irreps_in2.slices())
        offsets, off = [], 0
        for path in paths.paths:
            offsets.append(off)
            off += path.weight_numel
        groups = defaultdict(list)
        for n, path in enumerate(paths.paths):
            groups[(path.i1, path.i2)].append(n)
        self.groups = []
        for g, ((i1, i2), members) in enumerate(groups.items()):
            (m1, ir1), (m2, ir2) = paths.irreps_in1[i1], paths.irreps_in2[i2]
            blocks, cols, col = [], [], 0
            for n in members:
                path = paths.paths[n]
                l3 = paths.irreps_out[path.i_out].ir.l
                blocks.append(path.weight * o3.wigner_3j(ir1.l, ir2.l, l3, dtype=torch.float64))
                cols.append((n, col, 2 * l3 + 1, offsets[n]))
                col += 2 * l3 + 1
            M = torch.cat(blocks, dim=-1).reshape(ir1.dim * ir2.dim, col)
            self.register_buffer(f"M{g}", M.to(torch.get_default_dtype()))
            self.groups.append((s1[i1], s2[i2], m1, ir1.dim, m2, ir2.dim, cols))
        self.out_shapes = [(mul, ir.dim) for mul, ir in paths.irreps_out]

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        B = x1.shape[0]
        out: list[torch.Tensor | None] = [None] * len(self.out_shapes)
        per_sample = w is not None and w.dim() == 2
        for g, (sl1, sl2, m1, d1, m2, d2, cols) in enumerate(self.groups):
            a = x1[:, sl1].reshape(B, m1, d1)
            b = x2[:, sl2].reshape(B, m2, d2)
            outer = (a[:, :, None, :, None] * b[:, None, :, None, :]).reshape(B * m1 * m2, d1 * d2)
            S = (outer @ getattr(self, f"M{g}")).reshape(B, m1, m2, -1)
            for n, c, d3, woff in cols:
                path = self.p.paths[n]
                s = S[..., c:c + d3]
                if path.mode == "uvuv":
                    term = s.reshape(B, m1 * m2, d3)
                elif path.mode == "uvu":
                    W = w[..., woff:woff + path.weight_numel].reshape(*w.shape[:-1], m1, m2)
                    term = (s * (W[..., None] if per_sample else W[None, ..., None])).sum(2)
                else:  # uvw
                    W = w[..., woff:woff + path.weight_numel].reshape(*w.shape[:-1], *path.weight_shape)
                    if per_sample:
                        term = torch.einsum("buvk,buvw->bwk", s, W)
                    else:
                        term = (s.permute(0, 3, 1, 2).reshape(B * d3, m1 * m2) @ W.reshape(m1 * m2, -1))
                        term = term.reshape(B, d3, -1).transpose(1, 2)
                i = path.i_out
                out[i] = term if out[i] is None else out[i] + term
        return torch.cat([
            (o if o is not None else x1.new_zeros(B, *shape)).reshape(B, -1)
            for o, shape in zip(out, self.out_shapes)
        ], dim=-1)


class TorchCGKernel(Kernel):
    """Dense per-pair CG contraction in plain PyTorch (full, channelwise, fully connected)."""

    name = "torch-cg"
    family = "cg"
    backend = "torch"
    dtypes = ("float64", "float32", "tf32", "bfloat16", "float16")

    def supports(self, problem: Problem, device: str) -> str | None:
        if problem.op != "tp":
            return "tensor products only"
        return super().supports(problem, device)

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return TorchCG(tp_paths(problem)).to(device=device, dtype=dtype)

    def flops(self, problem: Problem) -> float:
        return cg_flops(tp_paths(problem), problem.batch)


KERNELS = [TorchCGKernel()]
