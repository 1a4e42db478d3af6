"""What the matrix tensor product computes: the matrix space, the embeddings, the reached couplings.

See :mod:`tpbench_kernels.matrix.dense` for the math: ``T = ceil((L1 + L2) / 2)``,
``V = ⊕_{l <= T} l``, inputs embedded as ``n × n`` matrices by
``E[c]_{(l_i m_i), (l_j m_j)} = sqrt((2 l_i + 1)(2 l_j + 1)) C^{l_i l_j l_c}_{m_i m_j m_c}``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from e3nn import o3

from tpbench.math.wigner import wigner_3j
from tpbench.spec.problem import Problem


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
