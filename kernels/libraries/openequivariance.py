"""OpenEquivariance (Bharadwaj et al., arXiv 2501.13986) as an optional GPU kernel.

``oeq-channelwise``: ``oeq.TensorProduct`` on MACE-style channelwise (uvu,
per-sample weights) problems. OpenEquivariance is GPU-only and ships as an
sdist whose build fetches libtorch, so it is an optional plugin
(``pip install 'tpbench[oeq]'`` on a GPU box): without the package or without
a GPU the kernel is *unavailable* with the reason.

Its weights are taken in e3nn's order for the same instruction list (uvu per
path, ``(mul1, mul2)`` per path), which is what its e3nn-compatible problem
description (``oeq.TPProblem`` with e3nn instructions) consumes; the gate
checks that claim before any timing.
"""

from __future__ import annotations

import importlib.util

import torch

from tpbench.kernel.base import Kernel
from tpbench.spec.paths import tp_paths
from tpbench.spec.problem import Problem
from tpbench.spec.work import cg_flops


def oeq_unavailable() -> str | None:
    """Why OpenEquivariance cannot run here (not installed, no GPU), or ``None``."""
    if importlib.util.find_spec("openequivariance") is None:
        return "openequivariance is not installed (GPU only: pip install 'tpbench[oeq]')"
    if not torch.cuda.is_available():
        return "openequivariance needs a CUDA GPU"
    return None


class OEQChannelwise(Kernel):
    name = "oeq-channelwise"
    family = "cg"
    backend = "openequivariance"
    devices = ("cuda",)
    dtypes = ("float32", "float64")

    def available(self) -> str | None:
        return oeq_unavailable()

    def supports(self, problem: Problem, device: str) -> str | None:
        if problem.op != "tp" or problem.connection != "channelwise":
            return "channelwise tensor products only"
        return super().supports(problem, device)

    def build(self, problem, device, dtype):
        import openequivariance as oeq

        paths = tp_paths(problem)
        spec = oeq.TPProblem(str(problem.in1), str(problem.in2), str(paths.irreps_out),
                             paths.e3nn_instructions(), shared_weights=False, internal_weights=False,
                             irrep_dtype=dtype, weight_dtype=dtype)
        return oeq.TensorProduct(spec).to(device)

    def flops(self, problem: Problem) -> float:
        return cg_flops(tp_paths(problem), problem.batch)


KERNELS = [OEQChannelwise()]
