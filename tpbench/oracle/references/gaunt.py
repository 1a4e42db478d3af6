"""Float64 oracles of the Gaunt product and of the vector (cross-product) Gaunt product.

``gaunt``: for every path ``(l1 p1) x (l2 p2) -> (l3 p3)`` of
:func:`tpbench.spec.gaunt.gaunt_plan` (``l1 + l2 + l3`` even,
``p3 = p1 p2``)

    z_{l3 m3} += Σ_{m1 m2} G_{m1 m2 m3} x_{l1 m1} y_{l2 m2},   G = ∫ Y_l1m1 Y_l2m2 Y_l3m3 dΩ,

i.e. the projection onto the output degrees of ``(Σ x Y)(Σ y Y)``.

``vector-gaunt``: the same, plus for ``l1 + l2 + l3`` odd the coupling of the
cross product of the surface gradients,

    V_{m1 m2 m3} = ∫ r̂ · (∇Y_l1m1 × ∇Y_l2m2) Y_l3m3 dΩ.

Independence from the fast kernels: the coupling tensors come from a
Gauss–Legendre product grid whose polar axis is a fixed *rotated* ``z`` axis
(not the kernels' ``y``), harmonics are evaluated from Cartesian points, and the
gradients are not differentiated in angles but obtained from e3nn's
``so3_generators``: with ``A = r × ∇`` (the infinitesimal rotations),
``A_a Y_l = X_a^{(l)} Y_l`` and ``r̂ · (∇f × ∇g) = r̂ · (A f × A g)`` on the
unit sphere. Integrands are polynomials of degree ``≤ l1 + l2 + l3 + 1``, so
the quadrature is exact. One explicit contraction per path.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from e3nn import o3

from tpbench.math.sphere import gl_grid, real_sh_xyz
from tpbench.spec.gaunt import GauntPlan, gaunt_plan
from tpbench.spec.native import Native
from tpbench.spec.precision import default_dtype
from tpbench.spec.problem import Problem

_TILT = np.array([0.3, -0.5, 0.7, 0.4])  # an arbitrary fixed quaternion: the reference grid's pole is off every axis


def _rotation() -> np.ndarray:
    a, b, c, d = _TILT / np.linalg.norm(_TILT)
    return np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                     [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
                     [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d]])


@lru_cache(maxsize=16)
def quadrature(total_degree: int) -> tuple[np.ndarray, np.ndarray]:
    """``(points (N, 3), weights (N,))`` integrating polynomials of degree ``<= total_degree`` exactly."""
    t, w, alpha = gl_grid(total_degree // 2 + 1, total_degree + 1)
    s = np.sqrt(1 - t * t)
    pts = np.stack(np.broadcast_arrays(s[:, None] * np.cos(alpha), s[:, None] * np.sin(alpha), t[:, None]), -1)
    weights = (w[:, None] * (2 * math.pi / len(alpha))) * np.ones_like(alpha)
    return pts.reshape(-1, 3) @ _rotation().T, weights.reshape(-1)


def _generators(l: int) -> np.ndarray:
    with default_dtype(torch.float64):  # e3nn builds them in the default dtype
        return o3.so3_generators(l).numpy()


@lru_cache(maxsize=32)
def couplings(plan: GauntPlan, odd: bool) -> tuple[np.ndarray, ...]:
    """One ``(2l1+1, 2l2+1, 2l3+1)`` tensor per path of ``plan``: ``G`` (even sum) or ``V`` (odd sum)."""
    lmax = max(plan.lmax1, plan.lmax2, plan.lmax_out)
    pts, w = quadrature(plan.lmax1 + plan.lmax2 + plan.lmax_out + 1)
    Y = real_sh_xyz(lmax, pts)
    block = {l: Y[:, l * l:(l + 1) ** 2] for l in range(lmax + 1)}
    fields: dict[tuple[int, int, bool], np.ndarray] = {}  # (l1, l2, bracket) -> integrand (N, d1, d2)
    out = []
    for i, j, k in plan.paths:
        l1, l2, l3 = plan.in1[i].l, plan.in2[j].l, plan.out[k].l
        key = (l1, l2, (l1 + l2 + l3) % 2 == 1)
        assert odd or not key[2], "odd couplings only in the vector Gaunt product"
        if key not in fields:
            fields[key] = _integrand(*key, block, pts, w)
        out.append(np.tensordot(fields[key], block[l3], axes=([0], [0])))
    return tuple(out)


def _integrand(l1: int, l2: int, bracket: bool, block, pts, w) -> np.ndarray:
    """``w Y_l1 ⊗ Y_l2`` (product) or ``w r̂ · (A Y_l1 × A Y_l2)`` (bracket) at the points, ``(N, d1, d2)``."""
    if not bracket:
        return w[:, None, None] * block[l1][:, :, None] * block[l2][:, None, :]
    A1 = np.einsum("aij,nj->nai", _generators(l1), block[l1])  # (r × ∇) Y_l1, Cartesian components
    A2 = np.einsum("aij,nj->nai", _generators(l2), block[l2])
    A2xr = np.cross(A2, pts[:, :, None], axis=1)  # r̂ · (a × b) = a · (b × r̂)
    return w[:, None, None] * np.einsum("nbi,nbj->nij", A1, A2xr)


class ReferenceGaunt(torch.nn.Module):
    """``z[out] = Σ_paths einsum(C_path, x[in1], y[in2])`` in float64."""

    def __init__(self, plan: GauntPlan, odd: bool):
        super().__init__()
        self.plan = plan
        self.native: Native = plan.native()
        for n, C in enumerate(couplings(plan, odd)):
            self.register_buffer(f"C{n}", torch.tensor(C))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        P = self.plan
        out = [x1.new_zeros(*x1.shape[:-1], 2 * b.l + 1) for b in P.out]
        for n, (i, j, k) in enumerate(P.paths):
            a, b = P.in1[i], P.in2[j]
            x = x1[..., a.offset:a.offset + 2 * a.l + 1]
            y = x2[..., b.offset:b.offset + 2 * b.l + 1]
            C = getattr(self, f"C{n}").to(x1.dtype)  # z_k = Σ_ij C_ijk x_i y_j
            out[k] = out[k] + (x[..., :, None] * y[..., None, :]).flatten(-2) @ C.flatten(0, 1)
        return torch.cat(out, dim=-1)


def gaunt(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    return ReferenceGaunt(gaunt_plan(problem, odd=False), odd=False)


def vector_gaunt(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    return ReferenceGaunt(gaunt_plan(problem, odd=True), odd=True)

