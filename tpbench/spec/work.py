"""Work, counted analytically: FLOPs (a multiply-add counts 2) and the fewest bytes a pass must move.

Kernels count their own forward FLOPs (``Kernel.flops``) from the shared
counts here; the pass scales them (:data:`tpbench.spec.passes.WORK`,
:data:`~tpbench.spec.passes.BYTES`), and :func:`pass_work` turns them into the
rates a measured time implies.
"""

from __future__ import annotations

from typing import Any

from tpbench.spec import passes
from tpbench.spec.layers import linear_instructions
from tpbench.spec.native import Native
from tpbench.spec.paths import TPPaths
from tpbench.spec.precision import itemsize
from tpbench.spec.problem import Problem


def cg_flops(paths: TPPaths, batch: int) -> float:
    """Dense-CG count: per path ``2 d1 d2 d3`` per channel pair plus the weight contraction."""
    total = 0
    for p in paths.paths:
        (m1, ir1), (m2, ir2) = paths.irreps_in1[p.i1], paths.irreps_in2[p.i2]
        d3 = paths.irreps_out[p.i_out].ir.dim
        total += 2 * m1 * m2 * ir1.dim * ir2.dim * d3
        if p.mode == "uvw":
            total += 2 * m1 * m2 * paths.irreps_out[p.i_out].mul * d3
        elif p.mode == "uvu":
            total += 2 * m1 * m2 * d3
    return float(total * batch)


def linear_flops(problem: Problem) -> float:
    """Forward FLOPs of ``o3.Linear``: ``2 mul_in mul_out dim`` per instruction and sample."""
    per_sample = sum(2 * problem.in1[i].mul * problem.out[j].mul * problem.out[j].ir.dim
                     for i, j, _ in linear_instructions(problem.in1, problem.out))
    return float(per_sample * problem.batch)


def minimal_bytes(native: Native, problem: Problem) -> float:
    """Fewest bytes the forward pass must move: inputs, weights and output, once each."""
    dims = sum(ir.dim for ir in native.input_irreps) + native.irreps_out.dim
    per_sample = native.weight_numel if native.weights == "per-sample" else 0
    shared = native.weight_numel if native.weights == "shared" else 0
    return float(itemsize(problem.dtype) * (problem.batch * (dims + per_sample) + shared))


def pass_work(flops: float | None, nbytes: float | None, pass_: str, median_ms: float) -> dict[str, Any]:
    """FLOPs and bytes of ``pass_`` from the forward counts, and the rates they imply at ``median_ms``."""
    out: dict[str, Any] = {}
    seconds = median_ms / 1e3
    if flops:
        out["flops"] = flops * passes.WORK[pass_]
        out["gflops_per_s"] = out["flops"] / seconds / 1e9 if seconds > 0 else None
    if nbytes:
        out["bytes"] = nbytes * passes.BYTES[pass_]
        out["gbytes_per_s"] = out["bytes"] / seconds / 1e9 if seconds > 0 else None
    if flops and nbytes:
        out["arithmetic_intensity"] = out["flops"] / out["bytes"]
    return out
