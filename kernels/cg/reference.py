"""The float64 reference CG tensor product registered as a kernel of its own.

It is the oracle (:class:`tpbench.oracle.references.cg.ReferenceCG`, one explicit
``einsum`` per path) run at the problem's precision: a floor for speed and a
sanity check of the harness — it must pass its own gate.
"""

from __future__ import annotations

import torch

from tpbench.kernel.base import Kernel
from tpbench.spec.paths import tp_paths
from tpbench.spec.problem import Problem
from tpbench.oracle.references.cg import ReferenceCG
from tpbench_kernels.cg.dense import TorchCGKernel


class ReferenceCGKernel(TorchCGKernel):
    """torch-cg's problems and FLOP count, computed by the oracle's per-path ``einsum``."""

    name = "reference-cg"
    dtypes = Kernel.dtypes

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return ReferenceCG(tp_paths(problem), problem.weights).to(device=device, dtype=dtype)


KERNELS = [ReferenceCGKernel()]
