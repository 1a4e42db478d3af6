"""What the grid-MLP layer computes: its shape, its grid, its activation's constant.

A ``mul × s2(L)`` signal is sampled on a Gauss–Legendre product grid of
``n_β = q (L + 1)`` by ``n_α = 2 n_β`` points (``q`` the resolution factor),
passed pointwise through a two-layer MLP over channels, and projected back by
quadrature. See :mod:`tpbench_kernels.layers.grid_mlp`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from e3nn import o3

from tpbench.spec.precision import default_dtype
from tpbench.spec.problem import Problem
from tpbench.spec.shapes import s2

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
