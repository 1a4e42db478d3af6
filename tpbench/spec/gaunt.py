"""What a Gaunt-type product computes on a problem: blocks, parity kinds, paths, native irreps.

A block ``(l, p)`` of multiplicity 1 is a signal on the sphere
``f(r) = Σ_m x_m Y_lm(r)``. Its *kind* is ``+1`` ("natural") when
``p = (-1)^l`` — an ordinary function, like the harmonics — and ``-1``
("pseudo") otherwise — a function times the sign of ``det R``. Every
O(3)-equivariant bilinear map has ``p3 = p1 p2``. The Gaunt product couples
``l1 + l2 + l3`` even; the vector (cross) product adds ``l1 + l2 + l3`` odd.

Native irreps: the inputs as given; the output one block per distinct
``(l, p)`` of ``irreps_out`` that some path reaches, in ``irreps_out`` order.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

from e3nn import o3

from tpbench.spec.native import Native
from tpbench.spec.problem import Problem


@dataclasses.dataclass(frozen=True)
class Block:
    l: int
    p: int
    offset: int

    @property
    def kind(self) -> int:
        return 1 if self.p == (-1) ** self.l else -1

    @property
    def label(self) -> str:
        return f"{self.l}{'e' if self.p == 1 else 'o'}"


@dataclasses.dataclass(frozen=True)
class GauntPlan:
    """Blocks of both inputs and of the native output, and the couplings ``(i1, i2, i_out)``."""

    in1: tuple[Block, ...]
    in2: tuple[Block, ...]
    out: tuple[Block, ...]
    paths: tuple[tuple[int, int, int], ...]

    @property
    def lmax1(self) -> int:
        return max(b.l for b in self.in1)

    @property
    def lmax2(self) -> int:
        return max(b.l for b in self.in2)

    @property
    def lmax_out(self) -> int:
        return max(b.l for b in self.out)

    def kinds(self, which: str) -> set[int]:
        return {b.kind for b in getattr(self, which)}

    def labels(self) -> tuple[str, ...]:
        return tuple(f"{self.in1[a].label} x {self.in2[b].label} -> {self.out[c].label}" for a, b, c in self.paths)

    def native(self) -> Native:
        out = o3.Irreps([(1, (b.l, b.p)) for b in self.out])
        return Native(_irreps(self.in1), out, _irreps(self.in2), "none", 0, self.labels())


def _irreps(blocks: tuple[Block, ...]) -> o3.Irreps:
    return o3.Irreps([(1, (b.l, b.p)) for b in blocks])


def _blocks(irreps: o3.Irreps) -> tuple[Block, ...]:
    out, offset = [], 0
    for mul, ir in irreps:
        for _ in range(mul):
            out.append(Block(ir.l, ir.p, offset))
            offset += ir.dim
    return tuple(out)


def couples(l1: int, l2: int, l3: int, odd: bool) -> bool:
    """Gaunt couplings have ``l1+l2+l3`` even; the vector (cross) product adds the odd ones."""
    if not abs(l1 - l2) <= l3 <= l1 + l2:
        return False
    return odd or (l1 + l2 + l3) % 2 == 0


@lru_cache(maxsize=256)
def _plan(in1: str, in2: str, out: str, odd: bool) -> GauntPlan:
    b1, b2 = _blocks(o3.Irreps(in1)), _blocks(o3.Irreps(in2))
    wanted = list(dict.fromkeys((ir.l, ir.p) for _, ir in o3.Irreps(out)))
    reach = [(l, p) for l, p in wanted
             if any(x.p * y.p == p and couples(x.l, y.l, l, odd) for x in b1 for y in b2)]
    outs, offset = [], 0
    for l, p in reach:
        outs.append(Block(l, p, offset))
        offset += 2 * l + 1
    paths = tuple((i, j, k) for k, c in enumerate(outs) for i, a in enumerate(b1) for j, b in enumerate(b2)
                  if a.p * b.p == c.p and couples(a.l, b.l, c.l, odd))
    return GauntPlan(b1, b2, tuple(outs), paths)


def gaunt_plan(problem: Problem, odd: bool = False) -> GauntPlan:
    return _plan(problem.irreps_in1, problem.irreps_in2, problem.irreps_out, odd)
