"""Convolution kernels: the per-edge tensor product with its gather and scatter (:mod:`tpbench.spec.conv`).

Every module is called as ``module(x (N, ·), y (E, ·), w (E, ·)) -> (N, ·)``
with the graph (senders, receivers, node count) baked in at build time.

=================================  ===============================================================
name                               how
=================================  ===============================================================
``conv-unfused.TP``                 ``x[senders]`` (``index_select``) → tpbench kernel ``TP`` on the
                                   E edges → ``index_add_`` into receivers; one per TP kernel (CG,
                                   cg-sparse, cuEquivariance, Gaunt, vector Gaunt, matrix), so each
                                   shows its conv cost; judged by its own operation's oracle per edge
``conv-segment.TP``                 as unfused, summed by ``torch.segment_reduce`` over
                                   receiver-sorted edges (deterministic; no double backward)
``conv-e3nn``                      MACE / NequIP: ``o3.TensorProduct`` (uvu, external per-edge
                                   weights) on gathered features, ``scatter_add_`` with a broadcast
                                   index into receivers
``conv-cue-indexed.M.LAY``         cuEquivariance's ``ChannelWiseTensorProduct`` with
                                   ``indices_1 = senders``, ``indices_out = receivers``: gather and
                                   scatter inside the library (fused on GPU methods)
``conv-oeq.atomic|deterministic``  OpenEquivariance ``TensorProductConv`` (GPU only, optional)
=================================  ===============================================================

Scatters by atomics (``index_add_`` / ``scatter_add_`` on CUDA, OEQ atomic) do
not fix the order of the additions: those kernels say ``deterministic:
False`` (on CPU PyTorch's are sequential, but the label is the kernel's, not
the run's). They pass the gate within the usual tolerances.
"""

from __future__ import annotations

import dataclasses

import torch

from tpbench.spec.conv import conv_bytes, conv_flops, edge_problem, graph_tensors, num_nodes
from tpbench.kernel import Kernel, Native, torch_dtype
from tpbench.oracle.references.conv import conv_operation
from tpbench.spec.paths import tp_paths
from tpbench.spec.problem import Problem
from tpbench.spec.work import cg_flops
from tpbench_kernels.cg import dense as torch_cg
from tpbench_kernels.cg import reference as reference_cg
from tpbench_kernels.cg import sparse as cg_sparse
from tpbench_kernels.gaunt import fft as gaunt_fft
from tpbench_kernels.gaunt import grid as gaunt_grid
from tpbench_kernels.gaunt import vector as gaunt_vector
from tpbench_kernels.libraries import cuequivariance as cueq
from tpbench_kernels.libraries import e3nn as e3nn_ops
from tpbench_kernels.libraries.openequivariance import oeq_unavailable
from tpbench_kernels.matrix import dense as matrix_tp


def _conv_rows(problem: Problem, native: Native) -> Native:
    n, e = num_nodes(problem), problem.batch
    rows = (n, e) + ((e,) if native.weights != "none" else ()) + (n,)
    return dataclasses.replace(native, rows=rows)


class _Conv(Kernel):
    """Common to every conv kernel: the problem check, the native rows, the work."""

    operation = "conv"
    family = "conv"
    deterministic = True
    scatter = ""

    def supports(self, problem: Problem, device: str) -> str | None:
        if problem.op != "conv":
            return "convolutions only"
        return super().supports(problem, device)

    def native(self, problem: Problem) -> Native:
        paths = tp_paths(edge_problem(problem))
        return _conv_rows(problem, Native(paths.irreps_in1, paths.irreps_out, paths.irreps_in2, problem.weights,
                                          paths.weight_numel, tuple(paths.path_labels())))

    def flops(self, problem: Problem) -> float | None:
        return conv_flops(problem, cg_flops(tp_paths(edge_problem(problem)), problem.batch))

    def bytes(self, problem: Problem) -> float | None:
        native = self.native(problem)
        size = torch.empty((), dtype=torch_dtype(problem.dtype)).element_size()
        dims = (native.irreps_in1.dim, native.irreps_in2.dim, native.weight_numel, native.irreps_out.dim)
        return conv_bytes(problem, dims, size)

    def describe(self) -> dict:
        return {**super().describe(), "deterministic": self.deterministic, "scatter": self.scatter}


class GatherScatter(torch.nn.Module):
    """``out = zeros(N).index_add_(receivers, tp(x[senders], y, w))``, or a segment sum over sorted receivers."""

    def __init__(self, tp: torch.nn.Module, senders, receivers, n: int, segment: bool = False):
        super().__init__()
        self.tp, self.n, self.segment = tp, n, segment
        self.register_buffer("senders", senders)
        self.register_buffer("receivers", receivers)
        self.register_buffer("lengths", torch.bincount(receivers, minlength=n))

    def forward(self, x: torch.Tensor, *edge_inputs: torch.Tensor) -> torch.Tensor:
        messages = self.tp(x.index_select(0, self.senders), *edge_inputs)
        if self.segment:
            return torch.segment_reduce(messages, "sum", lengths=self.lengths, axis=0, unsafe=True)
        return messages.new_zeros(self.n, messages.shape[-1]).index_add_(0, self.receivers, messages)


class OnTP:
    """Mixin for a kernel built on a TP kernel ``self.tp``: it runs where, in the precisions and
    when that one does, and its effective method is that one's (of the module's ``tp``)."""

    tp: Kernel

    @property
    def devices(self):  # type: ignore[override]
        return self.tp.devices

    @property
    def dtypes(self):  # type: ignore[override]
        return self.tp.dtypes

    def available(self) -> str | None:
        return self.tp.available()

    def effective_method(self, module: torch.nn.Module) -> str | None:
        return self.tp.effective_method(module.tp)


class ConvUnfused(OnTP, _Conv):
    """Any per-edge TP kernel between a gather and a scatter."""

    def __init__(self, tp: Kernel, segment: bool = False):
        self.tp, self.segment = tp, segment
        self.operation = conv_operation(tp.operation)  # judged by the per-edge operation's own oracle
        self.exactly_equivariant = tp.exactly_equivariant
        self.deterministic = segment
        self.scatter = "segment_reduce (sorted receivers)" if segment else "index_add_"
        if segment:
            self.passes = ("fwd", "fwd+bwd")  # segment_reduce has no double backward

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"conv-{'segment' if self.segment else 'unfused'}.{self.tp.name}"

    @property
    def backend(self) -> str:  # type: ignore[override]
        return self.tp.backend

    @property
    def layout(self) -> str:  # type: ignore[override]
        return self.tp.layout

    @property
    def symmetry(self) -> str:  # type: ignore[override]
        return self.tp.symmetry

    def supports(self, problem: Problem, device: str) -> str | None:
        why = super().supports(problem, device)
        if why is None and self.segment and not dict(problem.graph).get("receivers_sorted"):
            return "segment sums need receiver-sorted edges"
        return why or self.tp.supports(edge_problem(problem), device)

    def native(self, problem: Problem) -> Native:
        return _conv_rows(problem, self.tp.native(edge_problem(problem)))

    def weight_permutation(self, problem: Problem):
        return self.tp.weight_permutation(edge_problem(problem))

    def flops(self, problem: Problem) -> float | None:
        return conv_flops(problem, self.tp.flops(edge_problem(problem)))

    def build(self, problem, device, dtype):
        senders, receivers, n = graph_tensors(problem, device)
        return GatherScatter(self.tp.build(edge_problem(problem), device, dtype), senders, receivers, n, self.segment)


class _MaceStyle(torch.nn.Module):
    def __init__(self, tp: torch.nn.Module, senders, receivers, n: int):
        super().__init__()
        self.tp, self.n = tp, n
        self.register_buffer("senders", senders)
        self.register_buffer("receivers", receivers)

    def forward(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        messages = self.tp(x[self.senders], y, w)
        index = self.receivers.unsqueeze(-1).expand_as(messages)
        return messages.new_zeros(self.n, messages.shape[-1]).scatter_add_(0, index, messages)


class ConvE3nn(_Conv):
    """e3nn the way MACE and NequIP use it: a uvu ``o3.TensorProduct`` with per-edge weights, then a scatter-sum."""

    name = "conv-e3nn"
    backend = "e3nn"
    deterministic = False
    scatter = "scatter_add_"

    def supports(self, problem: Problem, device: str) -> str | None:
        why = super().supports(problem, device)
        if why is None and problem.connection != "channelwise":
            return "channelwise (uvu) convolutions only"
        return why

    def build(self, problem, device, dtype):
        tp = e3nn_ops.E3nnChannelwise().build(edge_problem(problem), device, dtype)
        senders, receivers, n = graph_tensors(problem, device)
        return _MaceStyle(tp, senders, receivers, n)


class _CueIndexed(torch.nn.Module):
    def __init__(self, tp: torch.nn.Module, senders, receivers, n: int):
        super().__init__()
        self.tp, self.n, self.f = tp, n, tp.f
        self.register_buffer("senders", senders)
        self.register_buffer("receivers", receivers)

    def forward(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.tp(x, y, w, indices_1=self.senders, indices_out=self.receivers, size_out=self.n)


class ConvCueIndexed(ConvUnfused):
    """cuEquivariance's channelwise TP with gather and scatter indices (``cuet.ChannelWiseTensorProduct``)."""

    def __init__(self, tp: cueq.CueChannelwise):
        super().__init__(tp)
        self.deterministic = False
        self.scatter = "cuEquivariance indexed output"

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"conv-cue-indexed.{self.tp.method}.{self.tp.layout_name}"

    def build(self, problem, device, dtype):
        senders, receivers, n = graph_tensors(problem, device)
        return _CueIndexed(self.tp.build(edge_problem(problem), device, dtype), senders, receivers, n)

    def effective_method(self, module: torch.nn.Module) -> str | None:
        return self.tp.effective_method(module)


class _OEQConv(torch.nn.Module):
    def __init__(self, conv: torch.nn.Module, senders, receivers, perm):
        super().__init__()
        self.conv = conv
        self.register_buffer("senders", senders)
        self.register_buffer("receivers", receivers)
        self.perm = perm

    def forward(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # OEQ: z_i = sum over (rows = i, cols = j); rows must be sorted for the deterministic scatter.
        return self.conv(x, y, w, self.receivers, self.senders, self.perm)


class ConvOEQ(_Conv):
    """OpenEquivariance ``TensorProductConv`` with its atomic or its deterministic (sorted, fix-up) scatter."""

    backend = "openequivariance"
    devices = ("cuda",)
    dtypes = ("float32", "float64")

    def __init__(self, deterministic: bool):
        self.deterministic = deterministic
        self.scatter = "deterministic fix-up (sorted receivers)" if deterministic else "atomic"

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"conv-oeq.{'deterministic' if self.deterministic else 'atomic'}"

    def available(self) -> str | None:
        return oeq_unavailable()

    def supports(self, problem: Problem, device: str) -> str | None:
        why = super().supports(problem, device)
        if why is None and problem.connection != "channelwise":
            return "channelwise (uvu) convolutions only"
        if why is None and self.deterministic and not dict(problem.graph).get("receivers_sorted"):
            return "the deterministic scatter needs receiver-sorted edges"
        return why

    def build(self, problem, device, dtype):
        import openequivariance as oeq

        edge = edge_problem(problem)
        paths = tp_paths(edge)
        spec = oeq.TPProblem(str(edge.in1), str(edge.in2), str(paths.irreps_out), paths.e3nn_instructions(),
                             shared_weights=False, internal_weights=False, irrep_dtype=dtype, weight_dtype=dtype)
        senders, receivers, _ = graph_tensors(problem, device)
        perm = torch.argsort(senders, stable=True) if self.deterministic else None
        return _OEQConv(oeq.TensorProductConv(spec, deterministic=self.deterministic).to(device),
                        senders, receivers, perm)


def _per_edge_kernels() -> list[Kernel]:
    """The TP kernels that may compute a per-edge product (each says for itself in ``supports``):
    channelwise CG ones for ``conv``/``conv-model``, full-TP ones (CG, Gaunt, matrix) for ``conv-mimo``."""
    found = [*cg_sparse.KERNELS, *torch_cg.KERNELS, *reference_cg.KERNELS, e3nn_ops.E3nnChannelwise(),
             e3nn_ops.E3nnFull()]
    found += [k for k in cueq.KERNELS if isinstance(k, (cueq.CueChannelwise, cueq.CueFull))]
    found += [*gaunt_fft.KERNELS, *gaunt_grid.KERNELS, *gaunt_vector.KERNELS, *matrix_tp.KERNELS]
    return found


KERNELS = [
    *(ConvUnfused(k) for k in _per_edge_kernels()),
    ConvUnfused(torch_cg.KERNELS[0], segment=True),
    ConvE3nn(),
    *(ConvCueIndexed(k) for k in cueq.KERNELS if isinstance(k, cueq.CueChannelwise)),
    ConvOEQ(False),
    ConvOEQ(True),
]
