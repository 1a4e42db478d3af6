"""The float64 reference CG tensor product registered as a kernel of its own.

It is the oracle (:class:`tpbench.references.ReferenceCG`, one explicit
``einsum`` per path) run at the problem's precision: a floor for speed and a
sanity check of the harness — it must pass its own gate.
"""

from __future__ import annotations

import torch

from tpbench_kernels.torch_cg import cg_flops
from tpbench.kernel import Kernel
from tpbench.paths import tp_paths
from tpbench.problem import Problem
from tpbench.references import ReferenceCG


class ReferenceCGKernel(Kernel):
    name = "reference-cg"
    family = "cg"
    backend = "torch"

    def supports(self, problem: Problem, device: str) -> str | None:
        if problem.op != "tp":
            return "tensor products only"
        return super().supports(problem, device)

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return ReferenceCG(tp_paths(problem), problem.weights).to(device=device, dtype=dtype)

    def flops(self, problem: Problem) -> float:
        return cg_flops(tp_paths(problem), problem.batch)


KERNELS = [ReferenceCGKernel()]
