"""Float64 linear and gate layers (the ``linear`` and ``gate`` operations).

``linear``
    e3nn's ``o3.Linear`` (:func:`tpbench.spec.layers.linear_instructions`), one
    explicit contraction per instruction.
``gate``
    e3nn's ``nn.Gate``: scalars → ``silu`` (even) or ``tanh`` (odd); gates →
    ``sigmoid``; gated irreps multiplied by their gate. Each activation is
    scaled to unit second moment under a standard normal input, with the
    constant e3nn pins (``e3nn.math.normalize2mom``), so outputs match e3nn.
"""

from __future__ import annotations

import torch
from e3nn import o3

from tpbench.spec.layers import gate_split, linear_instructions
from tpbench.spec.native import Native
from tpbench.spec.problem import Problem


def _slices(irreps: o3.Irreps) -> list[slice]:
    return list(irreps.slices())


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


def linear(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    return ReferenceLinear(problem)


def gate(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    return ReferenceGate(problem)
