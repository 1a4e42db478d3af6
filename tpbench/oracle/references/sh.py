"""Edge spherical harmonics: the operation ``sh`` and its float64 references.

For an edge vector ``r`` (Cartesian ``x, y, z``; any length but zero) and
``r̂ = r / |r|``, the output is ``Y_0(r̂) ⊕ Y_1(r̂) ⊕ … ⊕ Y_L(r̂)`` in e3nn's real
basis (``irreps_out = s2(L)``: ``Y_l`` has parity ``(-1)^l``, and ``Y_1(r̂) ∝
(x, y, z)``, so the input transforms as ``1o`` with ``D(R) = R``).

The reference is written from the definition by the Clebsch–Gordan
recursion, independent of the libraries under test::

    Y_0 = 1/sqrt(4π),   Y_1 = sqrt(3/(4π)) r̂,
    Y_l = c_l · C^{(l-1, 1, l)}(Y_{l-1} ⊗ Y_1)     (C: e3nn's Wigner 3j)

with ``c_l > 0`` fixed so that ``|Y_l|² = (2l+1)/(4π)`` on the unit sphere (the
addition theorem): the ``integral`` normalisation, orthonormal on the sphere,
tpbench's pinned convention. Libraries state theirs; each has its oracle
(operation name → per-degree factor on the reference):

==================  ===================================  =====================
operation           normalisation                        factor on ``Y_l``
==================  ===================================  =====================
``sh``              ``integral`` (orthonormal; sphericart)   1
``sh-component``    ``component`` (e3nn's default, MACE,     ``sqrt(4π)``
                    cuEquivariance): ``|Y_l|² = 2l+1``
``sh-norm``         ``norm``: ``|Y_l| = 1``                  ``sqrt(4π/(2l+1))``
==================  ===================================  =====================
"""

from __future__ import annotations

import math

import torch
from e3nn import o3

from tpbench.spec.native import Native
from tpbench.spec.problem import Problem

NORMALIZATIONS = {"sh": "integral", "sh-component": "component", "sh-norm": "norm"}


def degree_factor(normalization: str, l: int) -> float:
    """Factor that turns the orthonormal ``Y_l`` into ``normalization``'s."""
    return {"integral": 1.0, "component": math.sqrt(4 * math.pi),
            "norm": math.sqrt(4 * math.pi / (2 * l + 1))}[normalization]


def sh_flops(problem: Problem) -> float:
    """Forward FLOPs by the recursion: normalising ``r`` (~9) plus a ``(2l-1)·3·(2l+1)`` contraction per degree."""
    L = max(ir.l for _, ir in problem.out)
    return float(problem.batch * (9 + sum(2 * (2 * l - 1) * 3 * (2 * l + 1) for l in range(2, L + 1))))


class ReferenceSH(torch.nn.Module):
    """``module(r (E, 3)) -> (E, irreps_out.dim)`` in the given normalisation, float64."""

    def __init__(self, irreps_out: o3.Irreps, normalization: str = "integral"):
        super().__init__()
        self.irreps_out = irreps_out
        self.normalization = normalization
        self.L = max(ir.l for _, ir in irreps_out)
        self.native = Native(o3.Irreps("1x1o"), irreps_out, None, "none", 0)
        self.cg = [o3.wigner_3j(l - 1, 1, l, dtype=torch.float64) for l in range(2, self.L + 1)]
        # c_l from the north pole: |Y_l| is the same at every point of the sphere.
        self.c: list[float] = []
        for l in range(2, self.L + 1):
            raw = self._degrees(torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64), l)[-1]
            self.c.append(math.sqrt((2 * l + 1) / (4 * math.pi)) / raw.norm().item())

    def _degrees(self, u: torch.Tensor, upto: int) -> list[torch.Tensor]:
        """``[Y_0(u), …, Y_upto(u)]`` by the recursion; the last one unscaled when ``c`` does not reach it."""
        ys = [u.new_full((*u.shape[:-1], 1), 1 / math.sqrt(4 * math.pi)), math.sqrt(3 / (4 * math.pi)) * u]
        for l in range(2, upto + 1):
            raw = torch.einsum("ijk,...i,...j->...k", self.cg[l - 2].to(u.dtype), ys[-1], ys[1])
            ys.append(self.c[l - 2] * raw if l - 2 < len(self.c) else raw)
        return ys

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        ys = self._degrees(r / r.norm(dim=-1, keepdim=True), self.L)
        return torch.cat([degree_factor(self.normalization, ir.l) * ys[ir.l].unsqueeze(-2).expand(*r.shape[:-1], mul, ir.dim)
                          .reshape(*r.shape[:-1], mul * ir.dim) for mul, ir in self.irreps_out], dim=-1)


def sh(problem: Problem, native: Native | None = None, normalization: str = "integral") -> torch.nn.Module:
    return ReferenceSH(problem.out, normalization)
