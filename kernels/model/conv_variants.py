"""Convolutions that compute another operation than the CG channelwise conv, for model blocks.

``conv-gaunt-channelwise.TP`` (:mod:`tpbench.spec.gaunt_conv`): the registered
Gaunt TP kernel ``TP`` (``gaunt-grid`` …) on every (edge, channel) pair — the
edge's harmonics repeated per channel, the per-degree edge weights after the
product, ``index_add_`` into receivers. It changes the model: its
``describe()`` says so (``changes_model``), with what it drops.

``conv-stub`` (:mod:`tpbench.spec.block_stub`): one path of the CG conv, the
rest zero — a measuring device for the fraction of a block's time in its
conv. It is not registered on its own; only the stub block uses it.
"""

from __future__ import annotations

import torch

from tpbench.kernel import Kernel, Native
from tpbench.spec import block_stub
from tpbench.spec import gaunt_conv as spec
from tpbench.spec.conv import edge_problem, graph_tensors, num_nodes
from tpbench.spec.paths import channelwise_paths
from tpbench.spec.problem import Problem
from tpbench_kernels.conv.convolution import OnTP
from tpbench_kernels.gaunt import grid as gaunt_grid

TUNE_ROWS = 8192  # the Gaunt kernel autotunes at build: on this many (edge, channel) rows, not all of them


class _GauntConvModule(torch.nn.Module):
    def __init__(self, tp: torch.nn.Module, native: Native, senders, receivers, n: int, L: int):
        super().__init__()
        self.tp, self.native, self.n, self.L = tp, native, n, L
        self.register_buffer("senders", senders)
        self.register_buffer("receivers", receivers)

    def forward(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        xc = spec.channels(x.index_select(0, self.senders), self.native.irreps_in1)  # (E, mul, D1)
        E, mul = xc.shape[:2]
        z = self.tp(xc.reshape(E * mul, -1), y[:, None, :].expand(E, mul, y.shape[-1]).reshape(E * mul, -1))
        z = spec.weigh(z.view(E, mul, -1), w, self.L)
        out = z.new_zeros(self.n, mul, z.shape[-1]).index_add_(0, self.receivers, z)
        return spec.from_channels(out, self.native.irreps_out)


class GauntChannelwiseConv(OnTP, Kernel):
    """The channelwise Gaunt conv built on a registered Gaunt TP kernel (module docstring)."""

    family = "conv"
    operation = spec.OPERATION
    deterministic = True

    def __init__(self, tp: Kernel):
        self.tp = tp

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"conv-gaunt-channelwise.{self.tp.name}"

    def supports(self, problem: Problem, device: str) -> str | None:
        if problem.op != "conv":
            return "convolutions only"
        shape = spec.shape(problem)
        if isinstance(shape, str):
            return shape
        return super().supports(problem, device) or self.tp.supports(spec.per_channel_problem(problem, 1), device)

    def native(self, problem: Problem) -> Native:
        return spec.native(problem)

    def flops(self, problem: Problem) -> float | None:
        mul, _, L = spec.shape(problem)
        rows = problem.batch * mul
        tp = self.tp.flops(spec.per_channel_problem(problem, rows))
        return None if tp is None else float(tp + 2 * rows * (L + 1) ** 2)

    def describe(self) -> dict:
        return {**super().describe(), "changes_model": "Gaunt product per edge instead of CG (see expressivity)"}

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        mul, _, L = spec.shape(problem)
        tp = self.tp.build(spec.per_channel_problem(problem, min(TUNE_ROWS, problem.batch * mul)), device, dtype)
        senders, receivers, n = graph_tensors(problem, device)
        return _GauntConvModule(tp, spec.native(problem), senders, receivers, n, L)


class _StubModule(torch.nn.Module):
    def __init__(self, senders, receivers, n: int, mul: int, c: float, d_out: int):
        super().__init__()
        self.n, self.mul, self.c, self.pad = n, mul, c, d_out - mul
        self.register_buffer("senders", senders)
        self.register_buffer("receivers", receivers)

    def forward(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        msg = x.index_select(0, self.senders)[:, :self.mul] * y[:, :1] * w[:, :self.mul] * self.c
        out = msg.new_zeros(self.n, self.mul).index_add_(0, self.receivers, msg)
        return torch.nn.functional.pad(out, (0, self.pad))


class StubConv(Kernel):
    """One path of the CG conv, every other output zero: almost free (:mod:`tpbench.spec.block_stub`)."""

    name = "conv-stub"
    family = "conv"
    operation = block_stub.OPERATION

    def supports(self, problem: Problem, device: str) -> str | None:
        if problem.op != "conv" or problem.connection != "channelwise":
            return "channelwise convolutions only"
        try:
            block_stub.kept(problem)
        except ValueError as exc:
            return str(exc)
        return super().supports(problem, device)

    def native(self, problem: Problem) -> Native:
        e = edge_problem(problem)
        paths = channelwise_paths(e.in1, e.in2, e.out)
        n, E = num_nodes(problem), problem.batch
        return Native(paths.irreps_in1, paths.irreps_out, paths.irreps_in2, "per-sample", paths.weight_numel,
                      (block_stub.KEPT_PATH,), rows=(n, E, E, n))

    def flops(self, problem: Problem) -> float | None:
        return float(4 * problem.batch * block_stub.kept(problem)[0])

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        mul, c = block_stub.kept(problem)
        senders, receivers, n = graph_tensors(problem, device)
        return _StubModule(senders, receivers, n, mul, c, self.native(problem).irreps_out.dim)


GAUNT_TPS = ("gaunt-grid",)
KERNELS = [GauntChannelwiseConv(k) for k in gaunt_grid.KERNELS if k.name in GAUNT_TPS]
