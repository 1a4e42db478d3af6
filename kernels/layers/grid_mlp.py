"""Grid MLP (Facet-style): to a spherical grid, a standard MLP per grid point across channels, back.

Math. Input ``x = mul × s2(L)`` (parity ``(-1)^l``), channel ``u`` is the
signal ``s_u(r) = c sum_{lm} x_{u,lm} Y_lm(r)`` with e3nn's orthonormal
("integral") spherical harmonics and ``c = sqrt(4π) / (L + 1)`` (unit variance
per grid value for unit-variance inputs). At every grid point ``r_g``

    h_g = φ(W1^T s(r_g) / sqrt(mul)),   o_g = W2^T h_g / sqrt(hidden)

(``φ`` = silu scaled to unit second moment, ``W1: mul × hidden``,
``W2: hidden × mul`` shared by all points: the weights input, ``W1`` then
``W2`` row-major, ``weight_numel = 2 mul hidden``), and

    z_{u,lm} = (1 / c) sum_g q_g Y_lm(r_g) o_{g,u}

with the quadrature weights ``q_g``. Grid: ``n_β`` Gauss–Legendre nodes in
``cos β`` and ``n_α = 2 n_β`` uniform ``α`` (even, so the grid is symmetric
under ``r -> -r``); resolution factor ``q``: ``n_β = q (L + 1)``. At ``q = 1``
the round trip without the MLP is exact; the MLP output is not band-limited,
so the projection aliases and the layer is only approximately equivariant —
the error falls with ``q`` (:func:`equivariance_vs_resolution`). It is not
bilinear and has no CG paths.

Problems: ``linear``-operation problems ``mul × s2(L) -> mul × s2(L)``
(:func:`tpbench.spec.shapes.linear`), shared weights (the kernel declares its own
``weight_numel`` through :meth:`GridMLPKernel.native`). ``L <= 12`` (e3nn's
spherical harmonics).

Sizes: ``G = n_β n_α = 2 q^2 (L + 1)^2`` points, ``Y: G × (L + 1)^2``.
Cost per sample (FLOP rule, multiply-add = 2): ``4 mul G (L + 1)^2`` (both
transforms) ``+ 4 G mul hidden`` (MLP) ``+ 4 G hidden`` (activation):
``O(mul q^2 L^4 + q^2 L^2 mul hidden)``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from e3nn import o3

from tpbench.oracle.equivariance import equivariance_errors
from tpbench.kernel.base import Kernel, Native, default_dtype
from tpbench.spec.grid_mlp import DEFAULT_RESOLUTION, layer_shape, silu_constant, sphere_grid, support_reason
from tpbench.spec.problem import Problem
from tpbench.spec.shapes import s2



class GridMLP(torch.nn.Module):
    """``module(x, w)``: three matrix products and an activation (see the module docstring)."""

    def __init__(self, mul: int, L: int, q: int = DEFAULT_RESOLUTION, hidden: int | None = None):
        super().__init__()
        self.mul, self.L, self.hidden = mul, L, hidden or mul
        Y, weights = sphere_grid(L, q)
        c = math.sqrt(4 * math.pi) / (L + 1)
        dtype = torch.get_default_dtype()
        self.register_buffer("to_grid", (c * Y).to(dtype))  # (G, (L+1)^2)
        self.register_buffer("from_grid", (weights[:, None] * Y / c).T.contiguous().to(dtype))  # ((L+1)^2, G)
        self.act_c = silu_constant()
        self.slices = list(o3.Irreps(s2(L, mul)).slices())

    def to_components(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, dim)`` ``mul_ir`` -> ``((L+1)^2, B mul)``: components as rows, so transforms are single GEMMs."""
        B = x.shape[0]
        return torch.cat([x[:, sl].view(B, self.mul, 2 * l + 1).permute(2, 0, 1).reshape(2 * l + 1, -1)
                          for l, sl in enumerate(self.slices)], dim=0)

    def from_components(self, y: torch.Tensor, B: int) -> torch.Tensor:
        return torch.cat([y[l * l:(l + 1) ** 2].view(2 * l + 1, B, self.mul).permute(1, 2, 0).reshape(B, -1)
                          for l in range(self.L + 1)], dim=1)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        B, m, h = x.shape[0], self.mul, self.hidden
        W1 = w[:m * h].view(m, h) / math.sqrt(m)
        W2 = w[m * h:].view(h, m) * (self.act_c / math.sqrt(h))  # the activation's scale folded in: one pass less
        S = (self.to_grid @ self.to_components(x)).view(-1, m)  # (G B, mul): one row per point and sample
        O = torch.nn.functional.silu(S @ W1) @ W2
        return self.from_components(self.from_grid @ O.view(-1, B * m), B)


class GridMLPKernel(Kernel):
    """Spherical-grid MLP layer at resolution factor ``q`` (``n_β = q (L + 1)``, ``n_α = 2 n_β``)."""

    family = "grid-mlp"
    backend = "torch"
    operation = "grid-mlp"
    bilinear = False
    exactly_equivariant = False

    def __init__(self, resolution: int = DEFAULT_RESOLUTION):
        self.resolution = resolution
        self.name = "grid-mlp" if resolution == DEFAULT_RESOLUTION else f"grid-mlp-q{resolution}"
        if resolution != DEFAULT_RESOLUTION:
            # The grid is part of the math (the layer is nonlinear): the judge is the same layer on the same grid.
            self.operation = f"grid-mlp(q={resolution})"

    def supports(self, problem: Problem, device: str) -> str | None:
        return support_reason(problem) or super().supports(problem, device)

    def native(self, problem: Problem) -> Native:
        mul, _ = layer_shape(problem)
        return Native(problem.in1, problem.out, None, "shared", 2 * mul * mul)

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return GridMLP(*layer_shape(problem), q=self.resolution).to(device=device, dtype=dtype)

    def flops(self, problem: Problem) -> float:
        mul, L = layer_shape(problem)
        G = 2 * (self.resolution * (L + 1)) ** 2
        per_sample = 4 * mul * G * (L + 1) ** 2 + 4 * G * mul * mul + 4 * G * mul
        return float(per_sample * problem.batch)


def equivariance_vs_resolution(mul: int = 4, L: int = 3, resolutions=(1, 2, 3, 4, 6), batch: int = 16,
                               seed: int = 0) -> list[dict]:
    """Rotation and inversion equivariance errors of the float64 grid MLP per resolution factor.

    Same inputs, weights and group elements at every resolution, so the rows
    differ only in the grid. Returns ``[{"q", "n_beta", "n_alpha", "rotation", "inversion"}]``.
    """
    irreps = o3.Irreps(s2(L, mul))
    rows = []
    for q in resolutions:
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(batch, irreps.dim, generator=gen, dtype=torch.float64)
        w = torch.randn(2 * mul * mul, generator=gen, dtype=torch.float64)
        with default_dtype(torch.float64):
            module = GridMLP(mul, L, q)
        errors = equivariance_errors(lambda a, b: module(a, b), [irreps, None], irreps, [x, w], "O(3)", gen)
        rows.append({"q": q, "n_beta": q * (L + 1), "n_alpha": 2 * q * (L + 1), **errors})
    return rows


KERNELS = [GridMLPKernel()]
