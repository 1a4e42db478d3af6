"""The float64 matrix tensor product (the ``matrix`` operation), block by block with explicit contractions."""

from __future__ import annotations

import math

import torch
from e3nn import o3

from tpbench.math.wigner import wigner_3j
from tpbench.spec.matrix import coupled_degree, output_irreps, reached_paths
from tpbench.spec.native import Native
from tpbench.spec.problem import Problem


class ReferenceMatrixTP(torch.nn.Module):
    """Clear float64 matrix TP: per-block embeddings, a matrix product, per-block projections."""

    def __init__(self, problem: Problem):
        super().__init__()
        self.in1, self.in2, self.out = problem.in1, problem.in2, output_irreps(problem)
        self.T = coupled_degree(self.in1, self.in2)
        self.native = Native(self.in1, self.out, self.in2, "none", 0,
                             reached_paths(str(self.in1), str(self.in2), str(self.out)))

    def embed(self, x: torch.Tensor, irreps: o3.Irreps) -> torch.Tensor:
        n = (self.T + 1) ** 2
        X = x.new_zeros(*x.shape[:-1], n, n)
        for (_, ir), sl in zip(irreps, irreps.slices()):
            for li in range(self.T + 1):
                for lj in range(abs(li - ir.l), min(self.T, li + ir.l) + 1):
                    C = wigner_3j(li, lj, ir.l).to(x.dtype)
                    block = math.sqrt((2 * li + 1) * (2 * lj + 1)) * torch.einsum("ijk,...k->...ij", C, x[..., sl])
                    X[..., li * li:(li + 1) ** 2, lj * lj:(lj + 1) ** 2] += block
        return X

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        Z = self.embed(x1, self.in1) @ self.embed(x2, self.in2)
        parts = []
        for _, ir in self.out:
            z = 0
            for li in range(self.T + 1):
                for lk in range(abs(li - ir.l), min(self.T, li + ir.l) + 1):
                    C = wigner_3j(li, lk, ir.l).to(x1.dtype)
                    Zb = Z[..., li * li:(li + 1) ** 2, lk * lk:(lk + 1) ** 2]
                    z = z + math.sqrt((2 * li + 1) * (2 * lk + 1)) * torch.einsum("ijk,...ij->...k", C, Zb)
            parts.append(z)
        return torch.cat(parts, dim=-1)


def matrix(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    return ReferenceMatrixTP(problem)
