"""e3nn's modules as kernels: the de-facto standard every other library is compared with.

``e3nn-cg-full``         ``o3.FullTensorProduct`` (``uvuv``, one output block per path)
``e3nn-cg-channelwise``  ``o3.TensorProduct`` with MACE's ``uvu`` instructions, per-sample weights
``e3nn-cg-fc``           ``o3.FullyConnectedTensorProduct`` (``uvw``), shared weights
``e3nn-linear``          ``o3.Linear``, shared weights
``e3nn-gate``            ``nn.Gate`` (silu / tanh scalars, sigmoid gates)

Weights are external (``internal_weights=False``) and passed as the last
input, in e3nn's own order, which :mod:`tpbench.spec.paths` reproduces. On
torch >= 2.10 e3nn runs eagerly (no TorchScript); its code generation happens
in ``build``, outside the timed region.
"""

from __future__ import annotations

import torch

from tpbench.kernel.base import Kernel
from tpbench.spec.paths import tp_paths
from tpbench.spec.problem import Problem
from tpbench.spec.layers import gate_split, gate_unsupported
from tpbench.spec.work import cg_flops, linear_flops


class _E3nnTP(Kernel):
    family = "cg"
    backend = "e3nn"
    connection = ""

    def supports(self, problem: Problem, device: str) -> str | None:
        if problem.op != "tp" or problem.connection != self.connection:
            return f"{self.connection} tensor products only"
        return super().supports(problem, device)

    def flops(self, problem: Problem) -> float:
        return cg_flops(tp_paths(problem), problem.batch)


class E3nnFull(_E3nnTP):
    name = "e3nn-cg-full"
    connection = "full"

    def build(self, problem, device, dtype):
        from e3nn import o3

        filter_out = sorted({ir for _, ir in problem.out})
        return o3.FullTensorProduct(problem.in1, problem.in2, filter_ir_out=filter_out).to(device=device, dtype=dtype)


class E3nnChannelwise(_E3nnTP):
    name = "e3nn-cg-channelwise"
    connection = "channelwise"

    def build(self, problem, device, dtype):
        from e3nn import o3

        paths = tp_paths(problem)
        return o3.TensorProduct(problem.in1, problem.in2, paths.irreps_out, paths.e3nn_instructions(),
                                shared_weights=False, internal_weights=False).to(device=device, dtype=dtype)


class E3nnFullyConnected(_E3nnTP):
    name = "e3nn-cg-fc"
    connection = "fully_connected"

    def build(self, problem, device, dtype):
        from e3nn import o3

        return o3.FullyConnectedTensorProduct(problem.in1, problem.in2, problem.out, shared_weights=True,
                                              internal_weights=False).to(device=device, dtype=dtype)


class E3nnLinear(Kernel):
    name = "e3nn-linear"
    family = "linear"
    backend = "e3nn"
    operation = "linear"

    def supports(self, problem: Problem, device: str) -> str | None:
        return super().supports(problem, device) if problem.op == "linear" else "linear layers only"

    def build(self, problem, device, dtype):
        from e3nn import o3

        return o3.Linear(problem.in1, problem.out, shared_weights=True, internal_weights=False).to(
            device=device, dtype=dtype)

    def flops(self, problem: Problem) -> float:
        return linear_flops(problem)


class E3nnGate(Kernel):
    name = "e3nn-gate"
    family = "gate"
    backend = "e3nn"
    operation = "gate"
    bilinear = False

    def supports(self, problem: Problem, device: str) -> str | None:
        why = gate_unsupported(problem)
        if why:
            return why
        if any(part != part.sort().irreps for part in gate_split(problem)):
            # nn.Gate reads its input in sorted order: an unsorted one is silently misread.
            return "nn.Gate needs sorted scalar, gate and gated irreps"
        return super().supports(problem, device)

    def build(self, problem, device, dtype):
        from e3nn import nn

        scalars, gates, gated = gate_split(problem)
        acts = [torch.nn.functional.silu if ir.p == 1 else torch.tanh for _, ir in scalars]
        return nn.Gate(scalars, acts, gates, [torch.sigmoid] * len(gates), gated).to(device=device, dtype=dtype)

    def flops(self, problem: Problem) -> float:
        return float(problem.batch * problem.in1.dim * 4)


KERNELS = [E3nnFull(), E3nnChannelwise(), E3nnFullyConnected(), E3nnLinear(), E3nnGate()]
