"""Feature rotation into an edge's frame and back (the Wigner-D work of the SO(2) route), and its float64 oracle.

The problem
-----------
Per edge ``e``: features ``x`` (``mul x s2(L)``, one block per degree) and the edge vector ``r``
(``1x1o``, e3nn's ``(x, y, z)``). With ``R_e`` any rotation taking e3nn's polar axis ``ŷ`` to
``r̂``, and ``Π`` the projection onto the components ``|m| <= m_max`` about ``ŷ`` (in e3nn's real
basis: index ``l + m`` of each degree-``l`` block)::

    y = D(R_e) Π D(R_e)^T x              (per channel and degree)

Why the round trip, not the rotation into the frame alone
----------------------------------------------------------
eSCN / EquiformerV2 / UMA rotate each edge's features into the edge frame, keep ``|m| <= m_max``
(their SO(2) linear maps act there), and rotate the result back — two rotations per edge and layer,
which is what this operation times (the SO(2) mixing itself is :mod:`.so2`'s; here it is replaced by
the truncation alone). The one-way rotation ``D(R_e)^T x`` is not a function of ``(x, r)``: the frame is
only defined up to a rotation ``R_y(γ)`` about the edge axis, and every construction picks its own
``γ`` (Euler angles with ``γ = 0``, a random perpendicular vector, a quaternion), so two correct
kernels disagree on it. ``Π`` commutes with every rotation about ``ŷ`` and with the reflections
through planes containing it (those map ``m`` to ``−m``), so the round trip does not depend on the
choice: one reference judges every construction, and the operation is O(3)-equivariant in the
ordinary sense, ``f(D(g) x, g r) = D(g) f(x, r)`` for rotations and the inversion alike — the usual
equivariance check is the right one. ``m_max < L`` is required: at ``m_max = L``, ``Π = 1`` and the
round trip is the identity.

The oracle (no frame, no Wigner matrix)
---------------------------------------
``D(R_e) Π D(R_e)^T`` is the spectral projector onto angular momentum ``|m| <= m_max`` about ``r̂``.
With ``J_l`` e3nn's ``so3_generators(l)`` (real, antisymmetric; ``exp(θ J_l[1])`` is ``D_l`` of a
rotation by ``θ`` about ``ŷ``), ``A = (r̂ · J_l)²`` has eigenvalues ``−m²``, ``m = 0..l``, so by
Lagrange interpolation over its distinct eigenvalues::

    Π_l(r̂) = Σ_{k=0}^{min(m_max, l)} Π_{j=0..l, j≠k} (A + j²) / (j² − k²)

— a polynomial in ``r̂ = r / |r|``, smooth in ``r`` (every derivative defined), built in float64.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import torch
from e3nn import o3

from tpbench.spec.errors import UserError
from tpbench.spec.native import Native
from tpbench.spec.precision import default_dtype
from tpbench.spec.problem import Problem


@dataclasses.dataclass(frozen=True)
class RotateLayout:
    mul: int
    L: int
    m_max: int

    @property
    def degrees(self) -> tuple[int, ...]:
        return tuple(range(self.L + 1))

    def kept(self) -> torch.Tensor:
        """Boolean mask over one channel's ``s2(L)`` components: ``|m| <= m_max``."""
        return torch.tensor([abs(m) <= self.m_max for l in self.degrees for m in range(-l, l + 1)])


def rotate_layout(problem: Problem) -> RotateLayout:
    """The layout of a ``rotate`` problem; :class:`UserError` when its irreps or ``m_max`` do not fit."""
    if problem.op != "rotate":
        raise UserError(f"not a rotate problem: {problem.op!r}")
    muls = {mul for mul, _ in problem.in1}
    L = max(ir.l for _, ir in problem.in1)
    expected = o3.Irreps([(next(iter(muls)), (l, (-1) ** l)) for l in range(L + 1)])
    if len(muls) != 1 or problem.in1 != expected or problem.out != problem.in1 or str(problem.in2) != "1x1o":
        raise UserError(f"rotate needs mul x s2(L) features, the edge vector 1x1o and the same irreps out: "
                        f"{problem.in1} x {problem.in2} -> {problem.out}")
    m_max = dict(problem.params)["m_max"]
    if isinstance(m_max, bool) or not isinstance(m_max, int) or not 0 <= m_max < L:
        raise UserError(f"rotate needs an integer 0 <= m_max < L={L} (m_max = L is the identity), got {m_max!r}")
    return RotateLayout(muls.pop(), L, m_max)


@lru_cache(maxsize=None)
def _generators(l: int) -> torch.Tensor:
    with default_dtype(torch.float64):  # e3nn builds them in the default dtype: float32 would cost 1e-7
        return o3.so3_generators(l)


def axis_projector(l: int, m_max: int, u: torch.Tensor) -> torch.Tensor:
    """``(E, 2l+1, 2l+1)``: projector onto ``|m| <= m_max`` about the unit vectors ``u (E, 3)`` (float64)."""
    J = torch.einsum("ea,aij->eij", u, _generators(l).to(u))
    A = J @ J
    eye = torch.eye(2 * l + 1, dtype=u.dtype, device=u.device).expand_as(A)
    total = torch.zeros_like(A)
    for k in range(min(m_max, l) + 1):
        P = eye
        for j in range(l + 1):
            if j != k:
                P = P @ (A + j * j * eye) / (j * j - k * k)
        total = total + P
    return total


class ReferenceRotate(torch.nn.Module):
    """Float64 oracle: ``y_l = Π_l(r̂) x_l`` per channel."""

    def __init__(self, problem: Problem):
        super().__init__()
        self.layout = rotate_layout(problem)
        self.native = Native(problem.in1, problem.out, problem.in2, "none", 0)

    def forward(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        L = self.layout
        u = r / r.norm(dim=-1, keepdim=True)
        out, start = [], 0
        for l in L.degrees:
            size = L.mul * (2 * l + 1)
            xl = x[:, start:start + size].reshape(-1, L.mul, 2 * l + 1)
            out.append(torch.einsum("eij,euj->eui", axis_projector(l, L.m_max, u), xl).reshape(-1, size))
            start += size
        return torch.cat(out, -1)


def rotate(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    return ReferenceRotate(problem)
