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
(:func:`tpbench.shapes.linear`), shared weights (the kernel declares its own
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

from tpbench.equivariance import equivariance_errors
from tpbench.kernel import Kernel, Native, default_dtype
from tpbench.problem import Problem
from tpbench.references import register_reference
from tpbench.shapes import s2

DEFAULT_RESOLUTION = 2
MAX_L = 12


@lru_cache(maxsize=32)
def sphere_grid(L: int, q: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Y, q_g)`` in float64: harmonics ``Y[g, (l, m)]`` at the grid points and quadrature weights."""
    n_beta = q * (L + 1)
    n_alpha = 2 * n_beta
    z, w_beta = np.polynomial.legendre.leggauss(n_beta)
    alpha = 2 * math.pi * np.arange(n_alpha) / n_alpha
    z, w_beta, alpha = (torch.from_numpy(t) for t in (z, w_beta, alpha))
    rho = torch.sqrt(1 - z ** 2)
    points = torch.stack([rho[:, None] * torch.cos(alpha)[None], rho[:, None] * torch.sin(alpha)[None],
                          z[:, None].expand(-1, n_alpha)], dim=-1).reshape(-1, 3)
    Y = o3.spherical_harmonics(list(range(L + 1)), points, normalize=True, normalization="integral")
    weights = (w_beta[:, None] * (2 * math.pi / n_alpha)).expand(-1, n_alpha).reshape(-1)
    return Y, weights


def silu_constant() -> float:
    from e3nn.math import normalize2mom

    with default_dtype(torch.float64):
        return float(normalize2mom(torch.nn.functional.silu).cst)


def layer_shape(problem: Problem) -> tuple[int, int]:
    """``(mul, L)`` of a ``mul × s2(L)`` problem."""
    return problem.in1[0].mul, problem.in1.lmax


def support_reason(problem: Problem) -> str | None:
    if problem.op != "linear" or problem.weights != "shared":
        return "linear-operation problems (mul x s2(L) -> mul x s2(L), shared weights) only"
    mul, L = layer_shape(problem)
    if problem.in1 != o3.Irreps(s2(L, mul)) or problem.out != problem.in1:
        return (f"needs irreps_in1 = irreps_out = {s2(L, mul)} (mul x s2(L), parity (-1)^l), "
                f"got {problem.irreps_in1} -> {problem.irreps_out}")
    if L > MAX_L:
        return f"L = {L} > {MAX_L}: e3nn's spherical harmonics stop at l = {MAX_L}"
    return None


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


class ReferenceGridMLP(torch.nn.Module):
    """Float64 grid MLP written block by block with explicit contractions."""

    def __init__(self, mul: int, L: int, q: int = DEFAULT_RESOLUTION, hidden: int | None = None):
        super().__init__()
        self.mul, self.L, self.hidden = mul, L, hidden or mul
        self.Y, self.weights = sphere_grid(L, q)
        self.c = math.sqrt(4 * math.pi) / (L + 1)
        self.act_c = silu_constant()
        irreps = o3.Irreps(s2(L, mul))
        self.native = Native(irreps, irreps, None, "shared", 2 * mul * self.hidden)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        m, h, B = self.mul, self.hidden, x.shape[0]
        W1, W2 = w[:m * h].reshape(m, h), w[m * h:].reshape(h, m)
        irreps = o3.Irreps(s2(self.L, m))
        signal = 0
        for l, sl in enumerate(irreps.slices()):
            Yl = self.Y[:, l * l:(l + 1) ** 2].to(x.dtype)
            signal = signal + self.c * torch.einsum("gk,buk->bgu", Yl, x[:, sl].reshape(B, m, 2 * l + 1))
        hid = self.act_c * torch.nn.functional.silu(torch.einsum("bgu,uh->bgh", signal, W1) / math.sqrt(m))
        out = torch.einsum("bgh,hu->bgu", hid, W2) / math.sqrt(h)
        blocks = []
        for l in range(self.L + 1):
            Yl = self.Y[:, l * l:(l + 1) ** 2].to(x.dtype)
            blocks.append(torch.einsum("g,gk,bgu->buk", self.weights.to(x.dtype), Yl, out).reshape(B, -1) / self.c)
        return torch.cat(blocks, dim=1)


@register_reference("grid-mlp")
def _grid_mlp_reference(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    return ReferenceGridMLP(*layer_shape(problem))


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

    def supports(self, problem: Problem, device: str) -> str | None:
        return support_reason(problem) or super().supports(problem, device)

    def native(self, problem: Problem) -> Native:
        mul, _ = layer_shape(problem)
        return Native(problem.in1, problem.out, None, "shared", 2 * mul * mul)

    def reference(self, problem: Problem) -> torch.nn.Module:
        return ReferenceGridMLP(*layer_shape(problem), q=self.resolution)

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
