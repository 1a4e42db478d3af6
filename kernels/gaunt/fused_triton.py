"""``gaunt-grid-triton``: the grid Gaunt product fused into one Triton kernel per pass.

Math (as ``gaunt-grid``'s ``full`` method, :mod:`tpbench_kernels.gaunt.grid`): with the
harmonics of each operand on the exact Gauss–Legendre × uniform grid as a *leg*
``S_k`` ``(d_k, G)`` — ``S₁ = Y₁ᵀ``, ``S₂ = Y₂ᵀ`` and the weighted ``S₃ = (w Y₃)ᵀ`` —
the product is the trilinear form

    T(u, v; S_a, S_b, S_c) = ((u S_a) ⊙ (v S_b)) S_cᵀ,      z = T(x₁, x₂; S₁, S₂, S₃).

Each Triton program takes a tile of ``BLOCK_B`` batch rows (and ``BLOCK_C`` output
columns), walks the grid in ``BLOCK_G`` slices, and for each slice evaluates both
inputs (two ``tl.dot``), multiplies them and accumulates the projection (a third)
— the ``(batch, grid)`` intermediates live in registers only; global memory sees
the inputs, the (small, cached) legs and the output once.

Derivatives are the same form with the legs permuted (``T`` is linear in each
argument, and ``Σ_k z̄_k ∂z_k/∂u = T(z̄, v; S_c, S_b, S_a)``):

    x̄₁ = T(z̄, x₂; S₃, S₂, S₁),   x̄₂ = T(z̄, x₁; S₃, S₁, S₂),

computed by the same autograd Function, so the backward is itself differentiable
(double backward and beyond); forward mode is ``ż = T(ẋ₁, x₂) + T(x₁, ẋ₂)``.
The dots run in IEEE precision (``input_precision="ieee"``) for fp32 and fp64, and
with TF32 inputs for the ``tf32`` precision (fp32 storage).

Padding: every leg is stored ``(D_k, G_P)`` with zero rows and columns, ``D_k`` a
power of two ``>= 16`` (``tl.dot``'s minimum) and ``G_P`` a multiple of
``BLOCK_G``; zero columns add nothing to any sum, so only the batch rows and the
real input/output columns are masked.

Single-kind inputs only (one grid product); mixed parity kinds would need the
``u``/``v`` pair of :mod:`tpbench_kernels.gaunt.common`. Triton is imported only
when the kernel is built; without Triton, or without a CUDA GPU (unless
``TRITON_INTERPRET=1`` selects Triton's CPU interpreter, used by the tests), the
kernel is ``unavailable`` with the reason.
"""

from __future__ import annotations

import importlib.util
import math
import os
from functools import lru_cache

import numpy as np
import torch

from tpbench.spec.problem import Problem
from tpbench_kernels.gaunt.common import GauntKernel, GauntPlan, kinds_of
from tpbench.math.sphere import exact_sizes, gl_grid, grid_sh, sh_index

# Tile sizes: untuned (no GPU was at hand when this was written); a program re-evaluates both
# inputs once per output tile, so wider output tiles cost registers but save recomputation.
BLOCK_G = 32
BLOCK_B = {torch.float32: 32, torch.float64: 16}
BLOCK_C = {torch.float32: 128, torch.float64: 64}
PRECISION = {"float32": "ieee", "float64": "ieee", "tf32": "tf32"}


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def padded(d: int) -> int:
    """Rows of a leg: a power of two, at least 16."""
    return max(16, 1 << max(0, d - 1).bit_length())


@lru_cache(maxsize=1)
def _kernel():
    """The jitted kernel, made on first use (Triton decides interpreter or compiler at decoration)."""
    import triton
    import triton.language as tl

    @triton.jit
    def trilinear(u_ptr, v_ptr, out_ptr, sa_ptr, sb_ptr, sc_ptr, B, du, dv, dc,
                  GP: tl.constexpr, DA: tl.constexpr, DB: tl.constexpr, BLOCK_C: tl.constexpr,
                  BLOCK_B: tl.constexpr, BLOCK_G: tl.constexpr, PRECISION: tl.constexpr):
        rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
        cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
        ka = tl.arange(0, DA)
        kb = tl.arange(0, DB)
        live = rows[:, None] < B
        u = tl.load(u_ptr + rows[:, None] * du + ka[None, :], mask=live & (ka[None, :] < du), other=0.0)
        v = tl.load(v_ptr + rows[:, None] * dv + kb[None, :], mask=live & (kb[None, :] < dv), other=0.0)
        acc = tl.zeros((BLOCK_B, BLOCK_C), dtype=u.dtype)
        for g0 in range(0, GP, BLOCK_G):
            gs = g0 + tl.arange(0, BLOCK_G)
            f = tl.dot(u, tl.load(sa_ptr + ka[:, None] * GP + gs[None, :]), input_precision=PRECISION)
            g = tl.dot(v, tl.load(sb_ptr + kb[:, None] * GP + gs[None, :]), input_precision=PRECISION)
            sc = tl.load(sc_ptr + cols[None, :] * GP + gs[:, None])  # (BLOCK_G, BLOCK_C) slice of S_cᵀ
            acc += tl.dot(f * g, sc, input_precision=PRECISION)
        tl.store(out_ptr + rows[:, None] * dc + cols[None, :], acc, mask=live & (cols[None, :] < dc))

    return triton, trilinear


def trilinear(u: torch.Tensor, v: torch.Tensor, legs: tuple, dims: tuple[int, int, int],
              precision: str = "ieee") -> torch.Tensor:
    """``T(u, v; S_a, S_b, S_c)`` ``(B, d_c)`` by one launch; ``legs`` padded, ``dims = (d_a, d_b, d_c)``."""
    triton, kernel = _kernel()
    sa, sb, sc = legs
    da, db, dc = dims
    u, v = u.contiguous(), v.contiguous()
    B = u.shape[0]
    out = torch.empty(B, dc, device=u.device, dtype=u.dtype)
    if B == 0:
        return out
    block_b, block_c = BLOCK_B[u.dtype], min(BLOCK_C[u.dtype], sc.shape[0])
    grid = (triton.cdiv(B, block_b), triton.cdiv(dc, block_c))
    kernel[grid](u, v, out, sa, sb, sc, B, da, db, dc, GP=sa.shape[1], DA=sa.shape[0], DB=sb.shape[0],
                 BLOCK_C=block_c, BLOCK_B=block_b, BLOCK_G=BLOCK_G, PRECISION=precision)
    return out


class Trilinear(torch.autograd.Function):
    """``T(u, v; S_a, S_b, S_c)`` with derivatives that are again ``T`` (module docstring)."""

    @staticmethod
    def forward(u, v, legs, dims, precision):
        return trilinear(u, v, legs, dims, precision)

    @staticmethod
    def setup_context(ctx, inputs, output):
        u, v, legs, dims, precision = inputs
        ctx.legs, ctx.dims, ctx.precision = legs, dims, precision
        ctx.save_for_backward(u, v)
        ctx.save_for_forward(u, v)

    @staticmethod
    def backward(ctx, grad):
        u, v = ctx.saved_tensors
        (sa, sb, sc), (da, db, dc) = ctx.legs, ctx.dims
        p = ctx.precision
        gu = Trilinear.apply(grad, v, (sc, sb, sa), (dc, db, da), p) if ctx.needs_input_grad[0] else None
        gv = Trilinear.apply(grad, u, (sc, sa, sb), (dc, da, db), p) if ctx.needs_input_grad[1] else None
        return gu, gv, None, None, None

    @staticmethod
    def jvp(ctx, du, dv, *_):
        u, v = ctx.saved_tensors
        parts = ([trilinear(du, v, ctx.legs, ctx.dims, ctx.precision)] if du is not None else []) + \
                ([trilinear(u, dv, ctx.legs, ctx.dims, ctx.precision)] if dv is not None else [])
        return sum(parts)


def legs(plan: GauntPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``S₁, S₂, S₃`` ``(d_k, G)`` in float64 on the exact grid of ``plan`` (unpadded)."""
    n_beta, n_alpha = exact_sizes(plan.lmax1, plan.lmax2, plan.lmax_out)
    _, w, _ = gl_grid(n_beta, n_alpha)
    lmax = max(plan.lmax1, plan.lmax2, plan.lmax_out)
    Y = grid_sh(lmax, n_beta, n_alpha).reshape(n_beta * n_alpha, -1)
    wq = np.repeat(w * 2 * math.pi / n_alpha, n_alpha)[:, None]
    cols = lambda blocks: [sh_index(b.l, m) for b in blocks for m in range(-b.l, b.l + 1)]  # noqa: E731
    return Y[:, cols(plan.in1)].T, Y[:, cols(plan.in2)].T, (wq * Y[:, cols(plan.out)]).T


class FusedGrid(torch.nn.Module):
    """``z = T(x₁, x₂; S₁, S₂, S₃)`` with padded legs as buffers."""

    def __init__(self, plan: GauntPlan, dtype: torch.dtype, precision: str = "ieee"):
        super().__init__()
        self.precision = precision
        S = legs(plan)
        self.dims = tuple(s.shape[0] for s in S)
        GP = -(-S[0].shape[1] // BLOCK_G) * BLOCK_G
        for i, s in enumerate(S, start=1):
            buf = np.zeros((padded(s.shape[0]), GP))
            buf[:s.shape[0], :s.shape[1]] = s
            self.register_buffer(f"S{i}", torch.tensor(buf, dtype=dtype))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return Trilinear.apply(x1, x2, (self.S1, self.S2, self.S3), self.dims, self.precision)


class GauntGridTriton(GauntKernel):
    """Fused Triton Gaunt grid TP: per batch tile, both evaluations, the product and the projection in registers.

    Flops per sample (multiply-add = 2), of the work actually done on the padded legs:
    ``2 G_P (D₁ + D₂) + G_P + 2 G_P D₃`` (``D_k`` the padded leg rows, ``G_P`` the
    padded grid; a program re-evaluates both inputs for each of its ``⌈D₃/BLOCK_C⌉``
    output tiles, counted here). Bytes: the default floor (inputs and output once),
    which is what this kernel moves besides the small legs. Every ``l1+l2+l3``-even path.
    """

    name = "gaunt-grid-triton"
    family = "gaunt-grid"
    backend = "triton"
    dtypes = ("float64", "float32", "tf32")

    @property
    def devices(self) -> tuple[str, ...]:
        return ("cuda", "cpu") if interpreting() else ("cuda",)

    def available(self) -> str | None:
        if importlib.util.find_spec("triton") is None:
            return "triton is not installed (pip install 'tpbench[triton]')"
        if not interpreting() and not torch.cuda.is_available():
            return "needs a CUDA GPU (or TRITON_INTERPRET=1 for Triton's CPU interpreter)"
        return None

    def supports(self, problem: Problem, device: str) -> str | None:
        why = super().supports(problem, device)
        if why:
            return why
        plan = self.plan(problem)
        if len(kinds_of(plan.in1)) > 1 or len(kinds_of(plan.in2)) > 1:
            return "single-kind inputs only (all p = (-1)^l, or all p = -(-1)^l, per input): one grid product"
        return None

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return FusedGrid(self.plan(problem), dtype, PRECISION[problem.dtype]).to(device=device)

    def flops(self, problem: Problem) -> float:
        plan = self.plan(problem)
        S = legs(plan)
        GP = -(-S[0].shape[1] // BLOCK_G) * BLOCK_G
        D1, D2, D3 = (padded(s.shape[0]) for s in S)
        block = min(BLOCK_C[torch.float64 if problem.dtype == "float64" else torch.float32], D3)
        return float(problem.batch * (D3 // block) * (2 * GP * (D1 + D2) + GP + 2 * GP * block))


KERNELS = [GauntGridTriton()]
