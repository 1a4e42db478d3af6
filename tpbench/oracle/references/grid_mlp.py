"""The float64 grid MLP (the ``grid-mlp(q=Q)`` operation), block by block with explicit contractions."""

from __future__ import annotations

import math

import torch
from e3nn import o3

from tpbench.spec.grid_mlp import DEFAULT_RESOLUTION, layer_shape, silu_constant, sphere_grid
from tpbench.spec.native import Native
from tpbench.spec.problem import Problem
from tpbench.spec.shapes import s2


class ReferenceGridMLP(torch.nn.Module):
    """Float64 grid MLP written block by block with explicit contractions."""

    def __init__(self, mul: int, L: int, q: int = DEFAULT_RESOLUTION, hidden: int | None = None):
        super().__init__()
        self.mul, self.L, self.hidden = mul, L, hidden or mul
        self.Y, self.weights = sphere_grid(L, q)
        self.c = math.sqrt(4 * math.pi) / (L + 1)
        self.act_c = silu_constant()
        irreps = o3.Irreps(s2(L, mul))
        self.native = Native(irreps, irreps, None, "shared", 2 * mul * self.hidden)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        m, h, B = self.mul, self.hidden, x.shape[0]
        W1, W2 = w[:m * h].reshape(m, h), w[m * h:].reshape(h, m)
        irreps = o3.Irreps(s2(self.L, m))
        signal = 0
        for l, sl in enumerate(irreps.slices()):
            Yl = self.Y[:, l * l:(l + 1) ** 2].to(x.dtype)
            signal = signal + self.c * torch.einsum("gk,buk->bgu", Yl, x[:, sl].reshape(B, m, 2 * l + 1))
        hid = self.act_c * torch.nn.functional.silu(torch.einsum("bgu,uh->bgh", signal, W1) / math.sqrt(m))
        out = torch.einsum("bgh,hu->bgu", hid, W2) / math.sqrt(h)
        blocks = []
        for l in range(self.L + 1):
            Yl = self.Y[:, l * l:(l + 1) ** 2].to(x.dtype)
            blocks.append(torch.einsum("g,gk,bgu->buk", self.weights.to(x.dtype), Yl, out).reshape(B, -1) / self.c)
        return torch.cat(blocks, dim=1)


def grid_mlp(problem: Problem, native: Native | None = None, q: int = DEFAULT_RESOLUTION) -> torch.nn.Module:
    return ReferenceGridMLP(*layer_shape(problem), q=q)
