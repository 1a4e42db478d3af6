"""Matrix tensor product (Price of Freedom's Matrix-TP, e3x's "fused tensor"): couple by a matrix product.

Math. Let ``L1, L2`` be the input degrees, ``T = ceil((L1 + L2) / 2)`` and
``V = ⊕_{l <= T} l`` (dimension ``n = (T + 1)^2``), parity ignored. With the
real CG coefficients ``C^{l_i l_j l}`` of e3nn (``o3.wigner_3j``) and the
"norm" scaling ``s(l_i, l_j) = sqrt((2 l_i + 1)(2 l_j + 1))``, the embedding
``E_l: l -> V ⊗ V``

    E[c]_{(l_i m_i), (l_j m_j)} = s(l_i, l_j) C^{l_i l_j l_c}_{m_i m_j m_c}

turns an input ``x = sum_c x_c e_c`` (``c`` runs over the components of every
input block) into an ``n × n`` matrix ``X = sum_c x_c E[c]``. Then

    Z = X1 X2                      (matrix product, the coupling)
    z_d = sum_{ik} E3[d]_{ik} Z_ik   (projection onto each output degree)

Each step is SO(3)-equivariant (``X -> D_V X D_V^T`` and ``D_V`` is
orthogonal), so the layer is; it is *not* O(3)-equivariant — the output parity
is whatever the output block says, and the inversion is not respected in
general (``symmetry = "SO(3)"``, checked under rotations only). Inputs must hold
one copy of each degree (multiplicity 1, no degree twice); the output is one
block per degree ``l <= 2T`` that the problem's filter lists (first parity
listed). The coupling ``(l1, l2 -> l3)`` is a fixed multiple of the CG
path — which paths it reaches is computed from the coefficients
(:func:`reached_paths`), not assumed.

Normalisation: PoF's default ``"norm"`` scaling, kept for fidelity; it is not
unit-variance — for unit-variance inputs the output second moment per block
grows fast with ``L`` (about 1e2 at ``L = 1``, 1e5 at ``L = 4``; the gate
records it per block).

Sizes for ``mimo(L)``: ``T = L``, ``n = (L + 1)^2``, embeddings
``(L + 1)^2 × n^2``, projection ``n^2 × (2L + 1)^2``.
Cost per sample as implemented (dense embeddings, BLAS): ``2 d1 n^2 + 2 d2 n^2``
(embed) ``+ 2 n^3`` (matrix product) ``+ 2 n^2 d_out`` (project): ``O(L^6)``.
FLOP rule: those multiply-adds, 2 each.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from e3nn import o3

from tpbench.kernel.base import Kernel, Native
from tpbench.spec.matrix import coupled_degree, embedding, output_irreps, reached_paths, support_reason
from tpbench.spec.problem import Problem


class MatrixTP(torch.nn.Module):
    """Three dense products: embed both inputs (one matmul each), ``bmm``, project (one matmul)."""

    def __init__(self, problem: Problem, dtype: torch.dtype):
        super().__init__()
        in1, in2, out = problem.in1, problem.in2, output_irreps(problem)
        T = coupled_degree(in1, in2)
        self.n = (T + 1) ** 2
        self.register_buffer("E1", embedding(in1, T).reshape(in1.dim, -1).to(dtype))
        self.register_buffer("E2", embedding(in2, T).reshape(in2.dim, -1).to(dtype))
        self.register_buffer("P", embedding(out, T).reshape(out.dim, -1).T.contiguous().to(dtype))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        B, n = x1.shape[0], self.n
        X1 = (x1 @ self.E1).view(B, n, n)
        X2 = (x2 @ self.E2).view(B, n, n)
        return torch.bmm(X1, X2).view(B, n * n) @ self.P


class MatrixTPKernel(Kernel):
    """Price of Freedom's Matrix-TP (SO(3) only)."""

    name = "matrix-tp"
    family = "matrix"
    backend = "torch"
    operation = "matrix"
    symmetry = "SO(3)"

    def supports(self, problem: Problem, device: str) -> str | None:
        return support_reason(problem) or super().supports(problem, device)

    def native(self, problem: Problem) -> Native:
        out = output_irreps(problem)
        return Native(problem.in1, out, problem.in2, "none", 0,
                      reached_paths(problem.irreps_in1, problem.irreps_in2, str(out)))

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return MatrixTP(problem, dtype).to(device=device)

    def flops(self, problem: Problem) -> float:
        T = coupled_degree(problem.in1, problem.in2)
        n, d_out = (T + 1) ** 2, output_irreps(problem).dim
        per_sample = 2 * (problem.in1.dim + problem.in2.dim) * n * n + 2 * n ** 3 + 2 * n * n * d_out
        return float(per_sample * problem.batch)


KERNELS = [MatrixTPKernel()]
