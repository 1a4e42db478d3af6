"""Clebsch–Gordan paths of a tensor-product problem, with e3nn's normalisation.

A path couples block ``i1`` of ``x`` (``mul1 x (l1, p1)``) and block ``i2`` of
``y`` (``mul2 x (l2, p2)``) into block ``i_out`` of ``z`` (``l3, p3``), allowed
when ``|l1 - l2| <= l3 <= l1 + l2`` and ``p1 p2 = p3``. Its contribution is

    z[i_out]_{w k} += a_path * sum_{u v i j} W_{u v w} C^{l1 l2 l3}_{i j k} x_{u i} y_{v j}

with ``C`` from :func:`e3nn.o3.wigner_3j` (unit Frobenius norm) and the channel
pattern of the connection mode (``uvw``: all of ``W``; ``uvu``: ``W_{uv}``,
``w = u``; ``uvuv``: no weight, ``w = (u, v)``). The path weight follows e3nn's
defaults (``irrep_normalization="component"``, ``path_normalization="element"``,
unit input and output variances):

    a_path = sqrt( (2 l3 + 1) / sum_{paths q into the same output block} n(q) )

where ``n(q)`` is the number of terms one output element sums over
(``uvw``: ``mul1 mul2``; ``uvu``: ``mul2``; ``uvuv``: 1). Every CG kernel in
tpbench reproduces these numbers so outputs compare element by element.

Weights are flattened path by path in instruction order, each of shape
:attr:`CGPath.weight_shape` — e3nn's layout, which cuEquivariance's modules accept
unchanged in the ``mul_ir`` layout.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache

from e3nn import o3

from tpbench.spec.errors import UserError
from tpbench.spec.problem import Problem

_ELEMENTS = {
    "uvw": lambda m1, m2: m1 * m2,
    "uvu": lambda m1, m2: m2,
    "uvuv": lambda m1, m2: 1,
}


@dataclasses.dataclass(frozen=True)
class CGPath:
    i1: int
    i2: int
    i_out: int
    mode: str
    has_weight: bool
    weight: float  # the normalisation a_path above
    weight_shape: tuple[int, ...]

    @property
    def weight_numel(self) -> int:
        return math.prod(self.weight_shape) if self.has_weight else 0


@dataclasses.dataclass(frozen=True)
class TPPaths:
    """The native irreps and the list of paths of a CG tensor product."""

    irreps_in1: o3.Irreps
    irreps_in2: o3.Irreps
    irreps_out: o3.Irreps
    paths: tuple[CGPath, ...]

    @property
    def weight_numel(self) -> int:
        return sum(p.weight_numel for p in self.paths)

    def e3nn_instructions(self) -> list[tuple]:
        """Instructions for :class:`e3nn.o3.TensorProduct` (weights from its own normalisation)."""
        return [(p.i1, p.i2, p.i_out, p.mode, p.has_weight) for p in self.paths]

    def path_labels(self) -> list[str]:
        return [
            f"{self.irreps_in1[p.i1].ir} x {self.irreps_in2[p.i2].ir} -> {self.irreps_out[p.i_out].ir}"
            for p in self.paths
        ]


def _finish(in1: o3.Irreps, in2: o3.Irreps, out_list: list, raw: list[tuple], sort: bool) -> TPPaths:
    out = o3.Irreps(out_list)
    if sort:
        out, perm, _ = out.sort()
        raw = [(i1, i2, perm[io], mode, w) for i1, i2, io, mode, w in raw]
    counts: dict[int, int] = {}
    for i1, i2, io, mode, _ in raw:
        counts[io] = counts.get(io, 0) + _ELEMENTS[mode](in1[i1].mul, in2[i2].mul)
    paths = []
    for i1, i2, io, mode, has_weight in raw:
        m1, m2, m3 = in1[i1].mul, in2[i2].mul, out[io].mul
        shape = {"uvw": (m1, m2, m3), "uvu": (m1, m2), "uvuv": (m1, m2)}[mode]
        weight = math.sqrt(out[io].ir.dim / counts[io]) if counts[io] else 0.0
        paths.append(CGPath(i1, i2, io, mode, has_weight, weight, shape))
    return TPPaths(in1, in2, out, tuple(paths))


def full_paths(in1: o3.Irreps, in2: o3.Irreps, out_filter: o3.Irreps) -> TPPaths:
    """Every allowed path into an irrep of ``out_filter``, one output block per path (sorted)."""
    wanted = {ir for _, ir in out_filter}
    out_list, raw = [], []
    for i1, (m1, ir1) in enumerate(in1):
        for i2, (m2, ir2) in enumerate(in2):
            for ir in ir1 * ir2:
                if ir in wanted:
                    raw.append((i1, i2, len(out_list), "uvuv", False))
                    out_list.append((m1 * m2, ir))
    return _finish(in1, in2, out_list, raw, sort=True)


def channelwise_paths(in1: o3.Irreps, in2: o3.Irreps, target: o3.Irreps) -> TPPaths:
    """MACE's recipe: one ``mul1 x ir_out`` block per path with ``ir_out`` in ``target``, sorted."""
    wanted = {ir for _, ir in target}
    out_list, raw = [], []
    for i1, (m1, ir1) in enumerate(in1):
        for i2, (_, ir2) in enumerate(in2):
            for ir in ir1 * ir2:
                if ir in wanted:
                    raw.append((i1, i2, len(out_list), "uvu", True))
                    out_list.append((m1, ir))
    return _finish(in1, in2, out_list, raw, sort=True)


def fully_connected_paths(in1: o3.Irreps, in2: o3.Irreps, out: o3.Irreps) -> TPPaths:
    """e3nn's ``FullyConnectedTensorProduct``: every allowed ``uvw`` path into ``out`` as given."""
    raw = [
        (i1, i2, io, "uvw", True)
        for i1, (_, ir1) in enumerate(in1)
        for i2, (_, ir2) in enumerate(in2)
        for io, (_, ir3) in enumerate(out)
        if ir3 in ir1 * ir2
    ]
    return _finish(in1, in2, list(out), raw, sort=False)


def reorder_output(paths: TPPaths, irreps_out: o3.Irreps) -> TPPaths:
    """The same paths with output blocks in another order (libraries sort irreps differently).

    Blocks are matched by irrep and occurrence: the k-th ``4x1e`` of one order
    is the k-th ``4x1e`` of the other, since both enumerate paths in the same
    ``(i1, i2, ir_out)`` loop order before sorting.
    """
    if irreps_out == paths.irreps_out:
        return paths
    if sorted(map(tuple, irreps_out)) != sorted(map(tuple, paths.irreps_out)):
        raise ValueError(f"{irreps_out} is not a reordering of {paths.irreps_out}")
    slots: dict[tuple, list[int]] = {}
    for new, mul_ir in enumerate(irreps_out):
        slots.setdefault(tuple(mul_ir), []).append(new)
    seen: dict[tuple, int] = {}
    old_to_new = []
    for mul_ir in paths.irreps_out:
        key = tuple(mul_ir)
        old_to_new.append(slots[key][seen.get(key, 0)])
        seen[key] = seen.get(key, 0) + 1
    moved = tuple(dataclasses.replace(p, i_out=old_to_new[p.i_out]) for p in paths.paths)
    return TPPaths(paths.irreps_in1, paths.irreps_in2, irreps_out, moved)


@lru_cache(maxsize=256)
def _cached(connection: str, in1: str, in2: str, out: str) -> TPPaths:
    a, b, c = o3.Irreps(in1), o3.Irreps(in2), o3.Irreps(out)
    if connection == "full":
        return full_paths(a, b, c)
    if connection == "channelwise":
        paths = channelwise_paths(a, b, c)
        if paths.irreps_out != c:
            raise UserError(
                f"channelwise irreps_out {out!r} does not follow the MACE recipe for {in1!r} x {in2!r}; "
                f"expected {str(paths.irreps_out)!r} (use tpbench.spec.shapes.channelwise_problem)"
            )
        return paths
    return fully_connected_paths(a, b, c)


def tp_paths(problem: Problem) -> TPPaths:
    """The CG paths of a ``tp`` problem (its native irreps for a full-CG kernel)."""
    if problem.op != "tp":
        raise ValueError(f"{problem.op!r} problems have no tensor-product paths")
    return _cached(problem.connection, problem.irreps_in1, problem.irreps_in2, problem.irreps_out)
