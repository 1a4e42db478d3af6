"""What a Gaunt-type kernel computes on a problem: blocks, parity kinds, paths, native irreps.

A block ``(l, p)`` of multiplicity 1 is a signal on the sphere
``f(r) = Σ_m x_m Y_lm(r)``. Its *kind* is ``+1`` ("natural") when
``p = (-1)^l`` — an ordinary function, like the harmonics — and ``-1``
("pseudo") otherwise — a function times the sign of ``det R``. Every
O(3)-equivariant bilinear map has ``p3 = p1 p2``. The Gaunt product couples
``l1 + l2 + l3`` even, so the product of kinds ``s1, s2`` lands in outputs of
kind ``s1 s2``; the vector (cross) product of
:mod:`tpbench_kernels.gaunt.vector` couples ``l1 + l2 + l3`` odd and lands in
kind ``-s1 s2``.

Inputs holding both kinds need all four products (natural·natural,
natural·pseudo, pseudo·natural, pseudo·pseudo): with ``u = f₊ + f₋`` and
``v = f₊ − f₋`` the sums of products of equal output kind are

    Φ₊ = f₊g₊ + f₋g₋ = (u₁u₂ + v₁v₂)/2,   Φ₋ = f₊g₋ + f₋g₊ = (u₁u₂ − v₁v₂)/2,

two grid products instead of four (and one when each input has a single kind:
then ``v = s u``).

Native irreps: the inputs as given; the output one block per distinct
``(l, p)`` of ``irreps_out`` that some path reaches, in ``irreps_out`` order.
"""

from __future__ import annotations

import torch

from tpbench.kernel.base import Kernel
from tpbench.spec.gaunt import Block, GauntPlan, gaunt_plan
from tpbench.spec.native import Native
from tpbench.spec.problem import Problem

CHUNK_BYTES = 8 << 20  # per-chunk working set: a quarter of a 32 MiB L3; whole small batches stay unsplit
MAX_DEGREE = 64  # grids and Fourier tables grow as O(L^2)-O(L^3); beyond this, say so instead of thrashing


def chunk_rows(floats_per_row: int, itemsize: int) -> int:
    """Batch rows per chunk so that the grid intermediates of a chunk stay in cache."""
    return max(64, CHUNK_BYTES // max(1, floats_per_row * itemsize))


def chunked(fn, x1, x2, rows: int):
    """``fn`` on batch chunks of ``rows`` rows, concatenated.

    Grid intermediates are many times larger than inputs and outputs; in chunks
    they are produced and consumed while still in cache (2-3x faster on CPU at
    ``mimo(10)``). Autograd keeps one small graph per chunk. On GPUs chunks would
    only add launches: no chunking there.
    """
    if x1.shape[0] <= rows or x1.device.type != "cpu":
        return fn(x1, x2)
    return torch.cat([fn(a, b) for a, b in zip(x1.split(rows), x2.split(rows))])


def kinds_of(blocks: tuple[Block, ...]) -> list[int]:
    """Sorted distinct kinds (+1 natural, −1 pseudo) present among ``blocks``."""
    return sorted({b.kind for b in blocks}, reverse=True)


def products(kinds1: list[int], kinds2: list[int]) -> tuple[bool, bool, list[int]]:
    """``(need_v1, need_v2, output kinds)``: ``v`` signals only for mixed inputs (module docstring)."""
    mixed1, mixed2 = len(kinds1) == 2, len(kinds2) == 2
    if not (mixed1 or mixed2):
        return False, False, [kinds1[0] * kinds2[0]]
    return mixed1, mixed2, [1, -1]


def combine(P, M, sign: int, out_kinds: list[int]):
    """Fields ``Φ_τ`` per output kind from ``P = u₁u₂`` and ``M = sign · v₁v₂``.

    A single-kind input has ``v = s u``; callers pass ``u`` for it and fold ``s`` into ``sign``.
    """
    if len(out_kinds) == 1:
        return {out_kinds[0]: P}
    M = M if sign == 1 else -M
    return {1: (P + M) * 0.5, -1: (P - M) * 0.5}


def v_sign(need_v1: bool, need_v2: bool, kinds1: list[int], kinds2: list[int]) -> int:
    """The sign of ``v₁v₂`` relative to the product of the signals actually formed."""
    return (1 if need_v1 else kinds1[0]) * (1 if need_v2 else kinds2[0])


def unsupported(problem: Problem, odd: bool = False, max_degree: int = MAX_DEGREE) -> str | None:
    """Why a Gaunt-type kernel cannot compute ``problem`` (``None`` if it can)."""
    if problem.op != "tp":
        return "tensor products only"
    if problem.connection != "full" or problem.weights != "none":
        return "full tensor products without weights only (Gaunt kernels have no channel mixing)"
    for irreps in (problem.in1, problem.in2):
        if any(mul != 1 for mul, _ in irreps) or len({ir for _, ir in irreps}) != len(irreps):
            return "multiplicity-1 inputs with distinct irreps only (one signal per (l, p))"
    plan = gaunt_plan(problem, odd)
    if not plan.out:
        return "no output irrep is reachable by a Gaunt-type product"
    if plan.lmax1 + plan.lmax2 + plan.lmax_out > 3 * max_degree:
        return f"degrees too high (L1+L2+L_out > {3 * max_degree})"
    return None


class GauntKernel(Kernel):
    """Shared glue: supports / native of Gaunt-type kernels (``odd`` adds the vector-product paths)."""

    backend = "torch"
    operation = "gaunt"
    symmetry = "O(3)"
    odd = False

    def supports(self, problem: Problem, device: str) -> str | None:
        return unsupported(problem, self.odd) or super().supports(problem, device)

    def native(self, problem: Problem) -> Native:
        return gaunt_plan(problem, self.odd).native()

    def plan(self, problem: Problem) -> GauntPlan:
        return gaunt_plan(problem, self.odd)
