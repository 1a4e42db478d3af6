"""Random inputs for a kernel on a problem, in the kernel's conventions and back.

Inputs are drawn in float64 from a standard normal (unit variance per
component, the convention e3nn's normalisation assumes) in the ``mul_ir``
layout; :func:`for_kernel` casts them to the kernel's dtype, device and layout.
The passes that consume them are :mod:`tpbench.spec.passes`.
"""

from __future__ import annotations

from typing import Sequence

import torch
from e3nn import o3

from tpbench.kernel.base import Kernel
from tpbench.spec.native import Native
from tpbench.spec.layout import convert


def input_irreps(native: Native) -> list[o3.Irreps | None]:
    """Irreps of each positional input; ``None`` for the index and the weight tensor."""
    return list(native.input_irreps) + ([None] if native.index_range else []) \
        + ([None] if native.weights != "none" else [])


def _is_index(native: Native, position: int) -> bool:
    return bool(native.index_range) and position == len(native.input_irreps)


def make_index(native: Native, batch: int, generator: torch.Generator) -> torch.Tensor:
    """``(batch,)`` int64 indices, uniform in ``[0, index_range)``, sorted when the problem says so."""
    index = torch.randint(0, native.index_range, (batch,), generator=generator)
    return index.sort().values if native.index_sorted else index


def make_inputs(native: Native, batch: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Float64 ``mul_ir`` inputs: features, then the weights (if any); ``native.rows`` overrides ``batch``."""
    rows = list(native.rows) or [batch] * (len(native.input_irreps) + 1)
    tensors = [torch.randn(n, irreps.dim, generator=generator, dtype=torch.float64)
               for n, irreps in zip(rows, native.input_irreps)]
    if native.index_range:
        tensors.append(make_index(native, batch, generator))
    if native.weights == "shared":
        tensors.append(torch.randn(native.weight_numel, generator=generator, dtype=torch.float64))
    elif native.weights == "per-sample":
        tensors.append(torch.randn(rows[len(tensors)], native.weight_numel, generator=generator,
                                   dtype=torch.float64))
    return tensors


def for_kernel(tensors: Sequence[torch.Tensor], native: Native, kernel: Kernel, dtype: torch.dtype,
               device: str | torch.device, perm: torch.Tensor | None = None) -> list[torch.Tensor]:
    """Cast canonical inputs to what ``kernel`` consumes (layout, weight order, dtype, device)."""
    out = []
    for i, (t, irreps) in enumerate(zip(tensors, input_irreps(native))):
        if _is_index(native, i):  # integers stay integers (a float here is an unused second-order vector)
            out.append(t.to(device=device).contiguous())
            continue
        if irreps is not None:
            t = convert(t, irreps, "mul_ir", kernel.layout)
        elif perm is not None:
            t = t[..., perm] if isinstance(perm, torch.Tensor) else perm.forward(t)
        out.append(t.to(device=device, dtype=dtype).contiguous())
    return out


def from_kernel(tensors: Sequence[torch.Tensor | None], native: Native, kernel: Kernel,
                perm: torch.Tensor | None, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Map per-input tensors in the kernel's conventions (e.g. gradients) back to float64 canonical ones."""
    out = []
    for t, irreps, ref in zip(tensors, input_irreps(native), like):
        if t is None:
            out.append(torch.zeros_like(ref))
            continue
        t = t.double().cpu()
        if irreps is not None:
            t = convert(t, irreps, kernel.layout, "mul_ir")
        elif perm is not None and not isinstance(perm, torch.Tensor):
            t = perm.adjoint(t)
        elif perm is not None:
            t = torch.zeros_like(ref).index_copy_(-1, perm, t)
        out.append(t)
    return out
