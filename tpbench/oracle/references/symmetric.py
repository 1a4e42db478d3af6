"""MACE's symmetric contraction (the product basis) and its float64 oracle.

The problem
-----------
Per node ``n`` with species ``z_n`` and features ``A_n`` (``mul x V`` with
``V = ⊕ (l, p)`` the per-channel irreps of ``irreps_in1``, ``d = dim V``),
channel by channel (``u``)::

    B_{n u}^{(lo)} = Σ_{ν=1}^{correlation} Σ_b W_{z_n, b, u} Σ_{i_1..i_ν} U^{ν, lo}_{b, i_1..i_ν, k} A_{n u i_1} ... A_{n u i_ν}

``U^{ν, lo}_b`` (:func:`symmetric_basis`) is an orthonormal basis of the
equivariant maps ``Sym^ν V → (lo, po)``: every coupling tree
``((i_1 ⊗ i_2) → l_12 ⊗ i_3) → ...`` of products of e3nn's ``wigner_3j`` over
block multisets ``i_1 <= ... <= i_ν``, symmetrised over the ``ν!``
permutations of its factors, then Gram–Schmidt in tree order (dependent trees
dropped). Its size is checked against the count from characters
(:func:`invariant_count`), not from the construction.

Weights (``shared``, flat): ``(num_elements, n_basis, mul)`` with the basis
index running over the output blocks in order, then ``ν = 1..correlation``,
then ``b``. Species are an integer input ``(N,)`` (:class:`tpbench.kernel.Native`
``index_range = num_elements``).

The oracle contracts the dense outer power ``A^{⊗ν}`` with ``U`` — the
definition, with no symmetry used.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from functools import lru_cache

import torch
from e3nn import o3

from tpbench.spec.errors import UserError
from tpbench.spec.native import Native
from tpbench.spec.problem import Problem

Ir = tuple[int, int]  # (l, parity)


@dataclasses.dataclass(frozen=True)
class SCLayout:
    mul: int
    ins: tuple[Ir, ...]
    outs: tuple[Ir, ...]
    correlation: int
    num_elements: int
    sorted: bool

    @property
    def d(self) -> int:
        return sum(2 * l + 1 for l, _ in self.ins)

    def bases(self) -> list[tuple[int, int, int, torch.Tensor]]:
        """``(i_out, ν, offset, U)`` in the weight order; ``U`` is ``(n_b, d, ..., d, 2lo+1)``."""
        out, offset = [], 0
        for i, ir in enumerate(self.outs):
            for nu in range(1, self.correlation + 1):
                U = symmetric_basis(self.ins, ir, nu)
                out.append((i, nu, offset, U))
                offset += U.shape[0]
        return out

    @property
    def n_basis(self) -> int:
        return sum(U.shape[0] for *_, U in self.bases())

    @property
    def weight_numel(self) -> int:
        return self.num_elements * self.n_basis * self.mul


def sc_layout(problem: Problem) -> SCLayout:
    """The layout of a ``symmetric_contraction`` problem; :class:`UserError` when its parameters do not fit."""
    if problem.op != "symmetric_contraction":
        raise UserError(f"not a symmetric_contraction problem: {problem.op!r}")
    params = dict(problem.params)
    muls = {mul for mul, _ in problem.in1} | {mul for mul, _ in problem.out}
    if len(muls) != 1:
        raise UserError(f"symmetric_contraction needs one multiplicity: {problem.in1} -> {problem.out}")
    corr, n_el = params["correlation"], params["num_elements"]
    if isinstance(corr, bool) or not isinstance(corr, int) or not 1 <= corr <= 4:
        raise UserError(f"correlation must be an integer in 1..4, got {corr!r}")
    if isinstance(n_el, bool) or not isinstance(n_el, int) or n_el < 1:
        raise UserError(f"num_elements must be a positive integer, got {n_el!r}")
    ins = tuple((ir.l, ir.p) for _, ir in problem.in1)
    outs = tuple((ir.l, ir.p) for _, ir in problem.out)
    if len(set(ins)) != len(ins):
        raise UserError(f"symmetric_contraction needs each input irrep once per channel: {problem.in1}")
    return SCLayout(muls.pop(), ins, outs, corr, n_el, bool(params["sorted"]))


def _trees(ins: tuple[Ir, ...], nu: int, l_cap: int) -> list[tuple[torch.Tensor, Ir]]:
    """Coupling trees over block multisets ``i_1 <= ... <= i_ν``: ``(tensor (d,)*ν + (2l+1,), (l, p))``."""
    d = sum(2 * l + 1 for l, _ in ins)
    starts = [sum(2 * l + 1 for l, _ in ins[:i]) for i in range(len(ins))]
    embed = []
    for (l, _), s in zip(ins, starts):
        E = torch.zeros(d, 2 * l + 1, dtype=torch.float64)
        E[s:s + 2 * l + 1] = torch.eye(2 * l + 1, dtype=torch.float64)
        embed.append(E)
    level = [(embed[i], ins[i], i) for i in range(len(ins))]
    for _ in range(nu - 1):
        nxt = []
        for T, (lt, pt), last in level:
            for j in range(last, len(ins)):
                lj, pj = ins[j]
                for l in range(abs(lt - lj), min(lt + lj, l_cap) + 1):
                    C = o3.wigner_3j(lt, lj, l, dtype=torch.float64)
                    nxt.append((torch.einsum("...a,ib,abc->...ic", T, embed[j], C), (l, pt * pj), j))
        level = nxt
    return [(T, ir) for T, ir, _ in level]


@lru_cache(maxsize=None)
def symmetric_basis(ins: tuple[Ir, ...], out: Ir, nu: int) -> torch.Tensor:
    """Orthonormal basis ``(n_b, d, ..., d, 2lo+1)`` of equivariant maps ``Sym^ν V → out`` (float64)."""
    l_cap = out[0] + max(l for l, _ in ins) * (nu - 1)
    kept: list[torch.Tensor] = []
    for T, ir in _trees(ins, nu, l_cap):
        if ir != out:
            continue
        S = sum(T.permute(*p, nu) for p in itertools.permutations(range(nu))) / math.factorial(nu)
        v = S.reshape(-1)
        norm = v.norm()
        for _ in range(2):  # Gram–Schmidt, twice for stability
            for q in kept:
                v = v - (q @ v) * q
        if v.norm() > 1e-9 * max(norm.item(), 1.0):
            kept.append(v / v.norm())
    d = sum(2 * l + 1 for l, _ in ins)
    shape = (d,) * nu + (2 * out[0] + 1,)
    return torch.stack(kept).reshape(-1, *shape) if kept else torch.zeros(0, *shape, dtype=torch.float64)


def _chi(ins: tuple[Ir, ...], omega: torch.Tensor, k: int, inverted: bool) -> torch.Tensor:
    """Character of ``V`` at ``g^k`` with ``g`` a rotation by ``omega`` (times the inversion when ``inverted``)."""
    total = torch.zeros_like(omega)
    for l, p in ins:
        sign = (p ** k) if inverted else 1
        total = total + sign * sum(torch.cos(m * k * omega) for m in range(-l, l + 1))
    return total


def invariant_count(ins: tuple[Ir, ...], out: Ir, nu: int) -> int:
    """``dim Hom_O(3)(Sym^ν V, out)`` from characters (Weyl's integral over the rotation angle), for ν <= 4.

    ``χ_{Sym^ν}`` is the cycle-index polynomial of the power characters ``χ(g^k)``; the integrand is a
    trigonometric polynomial, so a uniform grid integrates it exactly.
    """
    lo, po = out
    n = 8 * (nu * max(l for l, _ in ins) + lo + 2)
    omega = torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)
    cycle_index = {1: [(1, (1,))], 2: [(1, (1, 1)), (1, (2,))], 3: [(1, (1, 1, 1)), (3, (1, 2)), (2, (3,))],
                   4: [(1, (1, 1, 1, 1)), (6, (1, 1, 2)), (3, (2, 2)), (8, (1, 3)), (6, (4,))]}[nu]
    total = 0.0
    for inverted in (False, True):
        sym = sum(c * math.prod(_chi(ins, omega, k, inverted) for k in ks) for c, ks in cycle_index) / math.factorial(nu)
        chi_out = sum(torch.cos(m * omega) for m in range(-lo, lo + 1)) * (po if inverted else 1)
        total += ((1 - torch.cos(omega)) * sym * chi_out).mean().item() / 2
    return round(total)


def per_channel(A: torch.Tensor, ins: tuple[Ir, ...], mul: int) -> torch.Tensor:
    """``(N, mul x V)`` in ``mul_ir`` → ``(N, mul, d)``."""
    parts, start = [], 0
    for l, _ in ins:
        size = mul * (2 * l + 1)
        parts.append(A[:, start:start + size].reshape(-1, mul, 2 * l + 1))
        start += size
    return torch.cat(parts, -1)


class ReferenceSymmetricContraction(torch.nn.Module):
    """Float64 oracle: dense ``A^{⊗ν}`` contracted with every basis tensor, weights gathered by species."""

    def __init__(self, problem: Problem):
        super().__init__()
        self.layout = L = sc_layout(problem)
        self.native = Native(problem.in1, problem.out, None, "shared", L.weight_numel,
                             index_range=L.num_elements, index_sorted=L.sorted)

    def forward(self, A: torch.Tensor, species: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        L = self.layout
        a = per_channel(A, L.ins, L.mul)
        W = w.reshape(L.num_elements, L.n_basis, L.mul)[species]  # (N, n_basis, mul)
        powers = [a]
        for _ in range(L.correlation - 1):
            powers.append(torch.einsum("nuI,nuj->nuIj", powers[-1].reshape(*a.shape[:2], -1), a))
        out = [a.new_zeros(a.shape[0], L.mul, 2 * l + 1) for l, _ in L.outs]
        for i, nu, offset, U in L.bases():
            if U.shape[0] == 0:
                continue
            P = powers[nu - 1].reshape(*a.shape[:2], -1)
            F = torch.einsum("nuI,bIk->nubk", P, U.reshape(U.shape[0], -1, U.shape[-1]).to(a))
            out[i] = out[i] + torch.einsum("nubk,nbu->nuk", F, W[:, offset:offset + U.shape[0]])
        return torch.cat([o.reshape(a.shape[0], -1) for o in out], -1)


def symmetric_contraction(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    return ReferenceSymmetricContraction(problem)
