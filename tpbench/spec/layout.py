"""Memory layouts of irreps features: ``mul_ir`` (e3nn) and ``ir_mul`` (cuEquivariance's native).

For a block ``mul x ir`` the ``mul_ir`` layout stores ``x[u, k]`` at
``u * dim + k``, ``ir_mul`` stores it at ``k * mul + u``. Blocks keep their
order. For multiplicity-1 irreps both layouts coincide.
"""

from __future__ import annotations

import torch
from e3nn import o3

LAYOUTS = ("mul_ir", "ir_mul")


def convert(x: torch.Tensor, irreps: o3.Irreps, source: str, target: str) -> torch.Tensor:
    """Reorder the last axis of ``x`` from layout ``source`` to ``target``."""
    if source not in LAYOUTS or target not in LAYOUTS:
        raise ValueError(f"unknown layout {source if source not in LAYOUTS else target!r}; expected one of {LAYOUTS}")
    if source == target or all(mul == 1 for mul, _ in irreps):
        return x
    parts = []
    for (mul, ir), sl in zip(irreps, irreps.slices()):
        block = x[..., sl]
        shape = (mul, ir.dim) if source == "mul_ir" else (ir.dim, mul)
        parts.append(block.reshape(*x.shape[:-1], *shape).transpose(-1, -2).reshape(*x.shape[:-1], -1))
    return torch.cat(parts, dim=-1)
