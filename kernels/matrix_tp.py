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

from tpbench.kernel import Kernel, Native
from tpbench.problem import Problem
from tpbench.references import register_reference
from tpbench_kernels.cg_sparse import wigner_3j


def coupled_degree(in1: o3.Irreps, in2: o3.Irreps) -> int:
    """``T = ceil((L1 + L2) / 2)``: the largest degree of the matrix space ``V``."""
    return math.ceil((in1.lmax + in2.lmax) / 2)


def embedding(irreps: o3.Irreps, T: int) -> torch.Tensor:
    """``E[c, i, j]`` (float64) for the components ``c`` of ``irreps``; ``i, j`` index ``V = s2(T)``."""
    n = (T + 1) ** 2
    E = torch.zeros(irreps.dim, n, n, dtype=torch.float64)
    for (_, ir), sl in zip(irreps, irreps.slices()):
        for li in range(T + 1):
            for lj in range(abs(li - ir.l), min(T, li + ir.l) + 1):
                C = wigner_3j(li, lj, ir.l)
                scale = math.sqrt((2 * li + 1) * (2 * lj + 1))
                E[sl, li * li:(li + 1) ** 2, lj * lj:(lj + 1) ** 2] = scale * C.permute(2, 0, 1)
    return E


def output_irreps(problem: Problem) -> o3.Irreps:
    """One block per degree the filter lists and ``V ⊗ V`` reaches (``l <= 2T``), first parity listed."""
    T = coupled_degree(problem.in1, problem.in2)
    seen, out = set(), []
    for _, ir in problem.out:
        if ir.l <= 2 * T and ir.l not in seen:
            seen.add(ir.l)
            out.append((1, ir))
    return o3.Irreps(out)


def support_reason(problem: Problem) -> str | None:
    if problem.op != "tp" or problem.connection != "full" or problem.weights != "none":
        return "full tensor products without weights only"
    for name, irreps in (("irreps_in1", problem.in1), ("irreps_in2", problem.in2)):
        if any(mul != 1 for mul, _ in irreps):
            return f"{name} {irreps}: multiplicity 1 only"
        degrees = [ir.l for _, ir in irreps]
        if len(set(degrees)) != len(degrees):
            return f"{name} {irreps}: each degree at most once (the matrix TP ignores parity)"
    if not len(output_irreps(problem)):
        return f"no output degree <= 2T in {problem.irreps_out}"
    return None


@lru_cache(maxsize=64)
def reached_paths(in1: str, in2: str, out: str) -> tuple[str, ...]:
    """Labels ``"l1 x l2 -> l3"`` of the couplings with a nonzero coefficient.

    By Schur's lemma the block ``(l1, l2 -> l3)`` of the bilinear map is
    ``alpha C^{l1 l2 l3}``; ``alpha`` is read at the largest CG entry as
    ``trace(E1[c1] E2[c2] E3[d]^T)``.
    """
    a, b, c = o3.Irreps(in1), o3.Irreps(in2), o3.Irreps(out)
    T = coupled_degree(a, b)
    E1, E2, E3 = embedding(a, T), embedding(b, T), embedding(c, T)
    alphas = {}
    for (_, ir1), s1 in zip(a, a.slices()):
        for (_, ir2), s2 in zip(b, b.slices()):
            for (_, ir3), s3 in zip(c, c.slices()):
                if not abs(ir1.l - ir2.l) <= ir3.l <= ir1.l + ir2.l:
                    continue
                C = wigner_3j(ir1.l, ir2.l, ir3.l)
                i, j, k = (int(t) for t in torch.unravel_index(C.abs().argmax(), C.shape))
                t = ((E1[s1.start + i] @ E2[s2.start + j]) * E3[s3.start + k]).sum()
                alphas[f"{ir1} x {ir2} -> {ir3}"] = abs(float(t / C[i, j, k]))
    top = max(alphas.values(), default=0.0)
    return tuple(label for label, alpha in alphas.items() if alpha > 1e-10 * top)


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


@register_reference("matrix")
def _matrix_reference(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    return ReferenceMatrixTP(problem)


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
