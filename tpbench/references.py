"""Float64 reference implementations: the oracles kernels are checked against.

Written for clarity, not speed: one explicit contraction per path. Each is
keyed by an *operation* name that kernels declare (``Kernel.operation``); the
kernel zoo registers more (Gaunt, vector Gaunt, matrix TP) with
:func:`register_reference`.

``cg``
    The Clebsch–Gordan tensor product of :mod:`tpbench.paths` on the kernel's
    native output irreps (for ``full`` that is one block per path).
``linear``
    e3nn's ``o3.Linear``: ``z[i_out]_{w k} = sum_{i_in ~ i_out} W_{u w} x[i_in]_{u k} / sqrt(fan_in)``
    with ``fan_in`` the summed input multiplicity of the same irrep.
``gate``
    e3nn's ``nn.Gate``: scalars → ``silu`` (even) or ``tanh`` (odd); gates →
    ``sigmoid``; gated irreps multiplied by their gate. Each activation is
    scaled to unit second moment under a standard normal input, with the
    constant e3nn pins (``e3nn.math.normalize2mom``), so outputs match e3nn.
"""

from __future__ import annotations

from typing import Callable

import torch
from e3nn import o3

from tpbench.kernel import Native
from tpbench.paths import TPPaths, reorder_output, tp_paths
from tpbench.problem import Problem

_BUILDERS: dict[str, Callable[[Problem, Native | None], torch.nn.Module]] = {}


def register_reference(operation: str):
    """Decorator: ``builder(problem, native) -> float64 module`` with a ``.native`` attribute."""

    def deco(builder):
        _BUILDERS[operation] = builder
        return builder

    return deco


def reference_for(operation: str, problem: Problem, native: Native | None = None) -> torch.nn.Module:
    if operation not in _BUILDERS:
        import tpbench_kernels  # noqa: F401  (the zoo registers its references on import)
    if operation not in _BUILDERS:
        raise KeyError(f"no reference implementation for operation {operation!r}")
    return _BUILDERS[operation](problem, native)


def _slices(irreps: o3.Irreps) -> list[slice]:
    return list(irreps.slices())


class ReferenceCG(torch.nn.Module):
    """Clear float64 CG tensor product: ``z = sum_paths a_path W C (x ⊗ y)``."""

    def __init__(self, paths: TPPaths, weights: str):
        super().__init__()
        self.paths = paths
        self.weights_mode = weights
        self.native = Native(paths.irreps_in1, paths.irreps_out, paths.irreps_in2, weights,
                             paths.weight_numel, tuple(paths.path_labels()))
        for n, p in enumerate(paths.paths):
            l1, l2, l3 = (paths.irreps_in1[p.i1].ir.l, paths.irreps_in2[p.i2].ir.l, paths.irreps_out[p.i_out].ir.l)
            self.register_buffer(f"cg{n}", o3.wigner_3j(l1, l2, l3, dtype=torch.float64))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        P = self.paths
        batch = x1.shape[:-1]
        s1, s2, so = _slices(P.irreps_in1), _slices(P.irreps_in2), _slices(P.irreps_out)
        out = [x1.new_zeros(*batch, P.irreps_out[i].mul, P.irreps_out[i].ir.dim) for i in range(len(P.irreps_out))]
        offset = 0
        for n, p in enumerate(P.paths):
            C = getattr(self, f"cg{n}").to(x1.dtype)
            m1, d1 = P.irreps_in1[p.i1]
            m2, d2 = P.irreps_in2[p.i2]
            a = x1[..., s1[p.i1]].reshape(*batch, m1, d1.dim)
            b = x2[..., s2[p.i2]].reshape(*batch, m2, d2.dim)
            if p.has_weight:
                W = w[..., offset:offset + p.weight_numel].reshape(*w.shape[:-1], *p.weight_shape)
                offset += p.weight_numel
            if p.mode == "uvw":
                term = torch.einsum("...uvw,ijk,...ui,...vj->...wk", W, C, a, b)
            elif p.mode == "uvu":
                term = torch.einsum("...uv,ijk,...ui,...vj->...uk", W, C, a, b)
            else:  # uvuv: one output channel per (u, v)
                term = torch.einsum("ijk,...ui,...vj->...uvk", C, a, b).reshape(*batch, m1 * m2, -1)
            out[p.i_out] = out[p.i_out] + p.weight * term
        return torch.cat([o.reshape(*batch, -1) for o in out], dim=-1)


@register_reference("cg")
def _cg(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    paths = tp_paths(problem)
    if native is not None:
        paths = reorder_output(paths, native.irreps_out)
    return ReferenceCG(paths, problem.weights)


def linear_instructions(irreps_in: o3.Irreps, irreps_out: o3.Irreps) -> list[tuple[int, int, float]]:
    """``(i_in, i_out, alpha)`` for every pair of blocks of equal irrep, e3nn's element normalisation."""
    pairs = [(i, j) for i, (_, a) in enumerate(irreps_in) for j, (_, b) in enumerate(irreps_out) if a == b]
    fan_in = {j: sum(irreps_in[i].mul for i, jj in pairs if jj == j) for _, j in pairs}
    return [(i, j, fan_in[j] ** -0.5) for i, j in pairs]


def linear_flops(problem: Problem) -> float:
    """Forward FLOPs of ``o3.Linear``: ``2 mul_in mul_out dim`` per instruction and sample."""
    per_sample = sum(2 * problem.in1[i].mul * problem.out[j].mul * problem.out[j].ir.dim
                     for i, j, _ in linear_instructions(problem.in1, problem.out))
    return float(per_sample * problem.batch)


class ReferenceLinear(torch.nn.Module):
    def __init__(self, problem: Problem):
        super().__init__()
        self.irreps_in, self.irreps_out = problem.in1, problem.out
        self.instructions = linear_instructions(self.irreps_in, self.irreps_out)
        numel = sum(self.irreps_in[i].mul * self.irreps_out[j].mul for i, j, _ in self.instructions)
        self.native = Native(self.irreps_in, self.irreps_out, None, "shared", numel)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        batch = x.shape[:-1]
        si, so = _slices(self.irreps_in), _slices(self.irreps_out)
        out = [x.new_zeros(*batch, m, ir.dim) for m, ir in self.irreps_out]
        offset = 0
        for i, j, alpha in self.instructions:
            (mi, ir), mo = self.irreps_in[i], self.irreps_out[j].mul
            W = w[offset:offset + mi * mo].reshape(mi, mo)
            offset += mi * mo
            xi = x[..., si[i]].reshape(*batch, mi, ir.dim)
            out[j] = out[j] + alpha * torch.einsum("uw,...uk->...wk", W, xi)
        return torch.cat([o.reshape(*batch, -1) for o in out], dim=-1)


@register_reference("linear")
def _linear(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    return ReferenceLinear(problem)


def gate_split(problem: Problem) -> tuple[o3.Irreps, o3.Irreps, o3.Irreps]:
    """``(scalars, gates, gated)`` of a gate problem: ``in = scalars + gates + gated``, ``out = scalars + gated``."""
    out, inp = problem.out, problem.in1
    k = 0
    while k < len(out) and out[k].ir.l == 0:
        k += 1
    scalars, gated = out[:k], out[k:]
    gates = inp[k:len(inp) - len(gated)]
    if inp[:k] != scalars or inp[len(inp) - len(gated):] != gated or gates.num_irreps != gated.num_irreps \
            or any(ir.l != 0 for _, ir in gates):
        from tpbench.errors import UserError

        raise UserError(f"gate irreps {problem.irreps_in1!r} -> {problem.irreps_out!r} are not "
                        "scalars + gates + gated -> scalars + gated")
    return o3.Irreps(scalars), o3.Irreps(gates), o3.Irreps(gated)


def gate_unsupported(problem: Problem) -> str | None:
    """Why ``problem`` is not a gate layer a gate kernel can run, or ``None``."""
    from tpbench.errors import UserError

    if problem.op != "gate":
        return "gate layers only"
    try:
        gate_split(problem)
    except UserError as exc:
        return str(exc)
    return None


def gate_constants() -> dict[str, float]:
    """Second-moment normalisation constants e3nn uses for silu, tanh and sigmoid."""
    from e3nn.math import normalize2mom

    return {name: normalize2mom(f).cst for name, f in
            (("silu", torch.nn.functional.silu), ("tanh", torch.tanh), ("sigmoid", torch.sigmoid))}


class ReferenceGate(torch.nn.Module):
    def __init__(self, problem: Problem):
        super().__init__()
        self.scalars, self.gates, self.gated = gate_split(problem)
        self.cst = gate_constants()
        self.native = Native(problem.in1, problem.out, None, "none", 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ns, ng = self.scalars.dim, self.gates.dim
        parts = []
        for (mul, ir), sl in zip(self.scalars, self.scalars.slices()):
            act, name = (torch.nn.functional.silu, "silu") if ir.p == 1 else (torch.tanh, "tanh")
            parts.append(self.cst[name] * act(x[..., sl]))
        gates = self.cst["sigmoid"] * torch.sigmoid(x[..., ns:ns + ng])
        gated = x[..., ns + ng:]
        start = 0
        for n, (mul, ir) in enumerate(self.gated):
            block = gated[..., self.gated.slices()[n]].reshape(*x.shape[:-1], mul, ir.dim)
            g = gates[..., start:start + mul, None]
            parts.append((g * block).reshape(*x.shape[:-1], -1))
            start += mul
        return torch.cat(parts, dim=-1)


@register_reference("gate")
def _gate(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    return ReferenceGate(problem)


# Operations with their own oracle modules register themselves on import.
from tpbench import reference_so2  # noqa: E402,F401
from tpbench import reference_symmetric  # noqa: E402,F401
