"""Float64 reference of the ``model_block`` operation, composed from its parts' references.

The definition is :mod:`tpbench.spec.model_block`; ``conv_operation`` names
another conv operation for blocks that compute another model (the Gaunt conv,
the stub: :mod:`.block_variants`). Each swappable part is
the float64 oracle of its own operation from this table — ``sh-component``
(:mod:`.sh`), ``conv`` (:mod:`.conv`, the per-path CG product per edge),
``symmetric_contraction`` (:mod:`.symmetric`) and ``linear`` (:mod:`.layers`)
— and the radial embedding is written here from its formula. So a block
kernel is judged by the same oracles its parts are, on the same graph.
"""

from __future__ import annotations

import copy
import math

import torch

from tpbench.spec.conv import graph_tensors
from tpbench.spec.model_block import POLY_P, block_params, mix_problem, part_problems, split_weights, weight_sizes
from tpbench.spec.native import Native
from tpbench.spec.problem import Problem


def radial_basis(d: torch.Tensor, r_max: float, n_b: int, p: int = POLY_P) -> torch.Tensor:
    """``(E,) -> (E, n_b)``: Bessel ``sqrt(2/r_max) sin(nπd/r_max)/d`` times the polynomial envelope ``u(d/r_max)``."""
    n = torch.arange(1, n_b + 1, dtype=d.dtype, device=d.device)
    bessel = math.sqrt(2 / r_max) * torch.sin(n * math.pi * d[:, None] / r_max) / d[:, None]
    x = d / r_max
    u = 1 - (p + 1) * (p + 2) / 2 * x ** p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
    return bessel * (u * (x < 1))[:, None]


class ReferenceBlock(torch.nn.Module):
    """``module(nodes (N, 3 + H.dim), shifts (E, 3), w) -> (N, 1)`` per-atom energies, float64."""

    def __init__(self, problem: Problem, conv_operation: str = "conv"):
        from tpbench.oracle.references import reference_for  # the table imports this module

        super().__init__()
        q = block_params(problem)
        parts = part_problems(problem)
        self.sh = reference_for("sh-component", parts["sh"])
        self.conv = reference_for(conv_operation, parts["conv"])
        self.sc = reference_for("symmetric_contraction", parts["sc"])
        conv_native = self.conv.native
        parts["mix"] = mix_problem(problem, conv_native.irreps_out)
        self.lin = torch.nn.ModuleDict({k: reference_for("linear", parts[k]) for k in ("up", "mix", "post", "readout")})
        self.sizes = weight_sizes(problem, self.sc.native.weight_numel, conv_native.weight_numel,
                                  conv_native.irreps_out)
        senders, receivers, n = graph_tensors(problem, "cpu")
        self.register_buffer("senders", senders)
        self.register_buffer("receivers", receivers)
        self.r_max, self.n_b, self.R = float(dict(problem.graph)["cutoff"]), q["bessel"], q["radial"]
        self.avg = float(q["avg_neighbors"])
        self.native = Native(problem.in1, problem.out, problem.in2, "shared", sum(s for _, s in self.sizes),
                             rows=(n, len(senders), n))

    def restricted(self, nodes: torch.Tensor) -> "ReferenceBlock":
        """The reference over the edges into ``nodes`` (``.edges``: which): exact on those atoms' energies.

        One message-passing step: ``e_i`` depends on atom ``i``, its senders and the edges into ``i`` only.
        """
        sub = copy.copy(self)
        sub._modules = dict(self._modules)
        sub._buffers = dict(self._buffers)
        sub.conv = self.conv.restricted(nodes)
        sub.edges = sub.conv.edges
        sub.senders, sub.receivers = self.senders[sub.edges], self.receivers[sub.edges]
        return sub

    def forward(self, nodes: torch.Tensor, shifts: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        W = split_weights(w, self.sizes)
        pos, h = nodes[:, :3], nodes[:, 3:]
        v = pos[self.senders] - pos[self.receivers] + shifts
        d = v.norm(dim=-1)
        Y = self.sh(v)
        b = radial_basis(d, self.r_max, self.n_b)
        silu = torch.nn.functional.silu
        r = silu(b @ W["radial1"].reshape(self.n_b, self.R) / math.sqrt(self.n_b))
        r = silu(r @ W["radial2"].reshape(self.R, self.R) / math.sqrt(self.R))
        rho = r @ W["radial3"].reshape(self.R, -1) / math.sqrt(self.R)
        m = self.conv(self.lin["up"](h, W["up"]), Y, rho) / self.avg
        A = self.lin["mix"](m, W["mix"])
        species = torch.zeros(A.shape[0], dtype=torch.long, device=A.device)
        B = self.sc(A, species, W["sc"])
        return self.lin["readout"](self.lin["post"](B, W["post"]), W["readout"])


def block(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    return ReferenceBlock(problem)
