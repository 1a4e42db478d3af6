"""Vector Gaunt tensor product on the exact spherical grid: ``vector-gaunt-grid``.

Each input block becomes a scalar signal ``f = Σ x_lm Y_lm`` *and* its
surface-gradient vector field ``∇f = Σ x_lm Ψ_lm`` (``Ψ_lm = r∇Y_lm``, the
gradient vector spherical harmonic; in spherical components
``(∂_β f, ∂_α f / sin β)``). On the grid two fields are formed:

* ``f g`` — the Gaunt product: paths with ``l1 + l2 + l3`` even;
* ``r̂ · (∇f × ∇g) = (∂_β f ∂_α g − ∂_α f ∂_β g) / sin β`` — the cross product of the
  two gradient fields (the Poisson bracket on the sphere), a polynomial of degree
  ``l1 + l2 − 1``: paths with ``l1 + l2 + l3`` odd (``|l1 − l2| < l3 < l1 + l2``,
  e.g. ``1o ⊗ 1o → 1e``: ``a × b``), which every Gaunt kernel misses.

Not included: the dot product ``∇f · ∇g`` (on each path it equals
``(λ1 + λ2 − λ3)/2`` times the Gaunt coupling, ``λ = l(l+1)``: no new path) and the
curl field ``r̂ × ∇f`` (its cross product with ``∇g`` is the dot product above).
Scalars (``l = 0``) have zero gradient and enter through ``f g`` only.

Parity: every output ``(l3, p3)`` has ``p3 = p1 p2``. The Gaunt field of kinds
``s1, s2`` (``s = +1`` when ``p = (−1)^l``) lands in outputs of kind ``s1 s2``,
the cross-product field in kind ``−s1 s2`` — on ``mimo-ap(L)`` the Gaunt part fills
``l3`` with ``p3 = (−1)^{l3}`` and the cross product the other parity. Mixed-kind
inputs use ``u = f₊ + f₋``, ``v = f₊ − f₋`` as in :mod:`tpbench_kernels.gaunt.grid`.

Grid: the Gauss–Legendre × uniform grid exact for degree ``L1 + L2 + L3``
(both integrands are polynomials of at most that degree), dense transforms:
per input three matrices ``(d, G)`` (value, ``∂_β``, ``∂_α / sin β``), one
``(G, d_out)`` projection per output kind. Cost per sample
``2 G (3 d1 + 3 d2 + k d_out) + 5 G`` flops (``k`` output kinds), ``O(L^4)`` for ``mimo(L)``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from tpbench.spec.problem import Problem
from tpbench_kernels.gaunt.common import GauntKernel, GauntPlan, combine, kinds_of, products, v_sign
from tpbench.math.sphere import exact_sizes, gl_grid, legendre_q, legendre_q_dbeta, sh_index, trig


@lru_cache(maxsize=32)
def grid_fields(lmax: int, n_beta: int, n_alpha: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(Y, ∂_β Y, ∂_α Y / sin β)`` on the grid, each ``(n_β n_α, (lmax+1)²)``."""
    t, _, alpha = gl_grid(n_beta, n_alpha)
    Q, dQ, T = legendre_q(lmax, t), legendre_q_dbeta(lmax, t), trig(lmax, alpha)
    s = np.sqrt(1 - t * t)
    out = [np.empty((n_beta, n_alpha, (lmax + 1) ** 2)) for _ in range(3)]
    for l in range(lmax + 1):
        for m in range(-l, l + 1):
            k, j = abs(m), sh_index(l, m)
            dT = -m * T[lmax - m] if m > 0 else k * T[lmax + k]  # d/dα of cos mα, sin |m|α
            out[0][..., j] = Q[l, k][:, None] * T[lmax + m]
            out[1][..., j] = dQ[l, k][:, None] * T[lmax + m]
            out[2][..., j] = (Q[l, k] / s)[:, None] * dT
    return tuple(o.reshape(n_beta * n_alpha, -1) for o in out)


class VectorGauntGrid(torch.nn.Module):
    def __init__(self, plan: GauntPlan, dtype: torch.dtype):
        super().__init__()
        n_beta, n_alpha = exact_sizes(plan.lmax1, plan.lmax2, plan.lmax_out)
        _, w, _ = gl_grid(n_beta, n_alpha)
        lmax = max(plan.lmax1, plan.lmax2, plan.lmax_out)
        Y, dB, dA = grid_fields(lmax, n_beta, n_alpha)
        self.G = n_beta * n_alpha
        self.k1, self.k2 = kinds_of(plan.in1), kinds_of(plan.in2)
        self.v1, self.v2, kinds = products(self.k1, self.k2)
        self.out_kinds = sorted({b.kind for b in plan.out}, reverse=True)
        for n, blocks, need_v in ((1, plan.in1, self.v1), (2, plan.in2, self.v2)):
            cols = [sh_index(b.l, m) for b in blocks for m in range(-b.l, b.l + 1)]
            sign = np.array([b.kind for b in blocks for _ in range(2 * b.l + 1)])[:, None]
            mats = [M[:, cols].T for M in (Y, dB, dA)]  # (d, G) each
            if need_v:
                mats += [M * sign for M in mats]
            self.register_buffer(f"A{n}", torch.tensor(np.concatenate(mats, axis=1), dtype=dtype).contiguous())
        wq = np.repeat(w * 2 * math.pi / n_alpha, n_alpha)[:, None]
        for kind in self.out_kinds:
            Z = np.zeros((self.G, sum(2 * b.l + 1 for b in plan.out)))
            for b in plan.out:
                if b.kind == kind:
                    Z[:, b.offset:b.offset + 2 * b.l + 1] = wq * Y[:, b.l * b.l:(b.l + 1) ** 2]
            self.register_buffer(f"Z{'p' if kind == 1 else 'm'}", torch.tensor(Z, dtype=dtype).contiguous())

    def _signals(self, x: torch.Tensor, n: int) -> list[tuple[torch.Tensor, ...]]:
        """``[(f, ∂_β f, ∂_α f / sin β)]`` for ``u`` (and ``v``)."""
        parts = (x @ getattr(self, f"A{n}")).split(self.G, dim=1)
        return [parts[i:i + 3] for i in range(0, len(parts), 3)]

    @staticmethod
    def _fields(a, b) -> tuple[torch.Tensor, torch.Tensor]:
        """``(f g, r̂ · (∇f × ∇g))``."""
        return a[0] * b[0], a[1] * b[2] - a[2] * b[1]

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        f, g = self._signals(x1, 1), self._signals(x2, 2)
        P, BP = self._fields(f[0], g[0])
        M, BM = self._fields(f[-1], g[-1]) if self.v1 or self.v2 else (None, None)
        sign = v_sign(self.v1, self.v2, self.k1, self.k2)
        _, _, kinds = products(self.k1, self.k2)
        gaunt = combine(P, M, sign, kinds)
        cross = {-k: v for k, v in combine(BP, BM, sign, kinds).items()}  # the cross product flips the kind
        out = 0
        for kind in self.out_kinds:
            field = sum(d[kind] for d in (gaunt, cross) if kind in d)
            out = out + field @ getattr(self, f"Z{'p' if kind == 1 else 'm'}")
        return out


class VectorGauntGridKernel(GauntKernel):
    """Vector Gaunt TP (module docstring): Gaunt paths plus the ``l1+l2+l3``-odd cross-product paths.

    Fields ``f g`` and ``r̂ · (∇f × ∇g)`` on the ``n_β × n_α`` grid of ``gaunt-grid``
    (``(2L+1) × (4L+1)`` on ``mimo(L)``); dense transforms, ``O(L^4)`` per sample.

    Flops per sample (multiply-add = 2): ``2 G (3 d1 n_sig1 + 3 d2 n_sig2 + k d_out)`` for the dense
    transforms (``n_sig = 2`` for mixed-kind inputs, ``k`` output kinds) plus ``4 G`` per product pair.
    """

    name = "vector-gaunt-grid"
    family = "vector-gaunt-grid"
    operation = "vector-gaunt"
    odd = True

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return VectorGauntGrid(self.plan(problem), dtype).to(device=device)

    def flops(self, problem: Problem) -> float:
        plan = self.plan(problem)
        nb, na = exact_sizes(plan.lmax1, plan.lmax2, plan.lmax_out)
        G = nb * na
        v1, v2, _ = products(kinds_of(plan.in1), kinds_of(plan.in2))
        d1, d2, dout = (sum(2 * b.l + 1 for b in bl) for bl in (plan.in1, plan.in2, plan.out))
        k = len({b.kind for b in plan.out})
        n_prod = 2 if (v1 or v2) else 1
        return float(problem.batch * (2 * G * (3 * d1 * (1 + v1) + 3 * d2 * (1 + v2) + k * dout) + 4 * G * n_prod))


KERNELS = [VectorGauntGridKernel()]
