"""Float64 reference of the convolution, written from its definition (:mod:`tpbench.conv`).

``out_i = sum_{e : receivers[e] = i} T(x_{senders[e]}, y_e, w_e)`` with ``T``
the clear per-path CG reference (:class:`tpbench.references.ReferenceCG`) on
the kernel's native output irreps. Registered for operation ``conv``.

:meth:`ReferenceConv.restricted` keeps only the edges into some receivers:
the gate compares a kernel on the whole graph with the reference on those
edges, which decide the output rows of those receivers exactly — and, under a
cotangent that is zero on every other row, every gradient too.
"""

from __future__ import annotations

import torch

from tpbench.conv import edge_problem, graph_tensors
from tpbench.kernel import Native
from tpbench.paths import reorder_output, tp_paths
from tpbench.problem import Problem
from tpbench.references import ReferenceCG, register_reference


class ReferenceConv(torch.nn.Module):
    """``module(x (N, d1), y (E', d2), w (E', numel)) -> (N, d_out)`` over the edges it holds."""

    def __init__(self, tp: ReferenceCG, senders: torch.Tensor, receivers: torch.Tensor, num_nodes: int,
                 edges: torch.Tensor | None = None):
        super().__init__()
        self.tp = tp
        self.num_nodes = num_nodes
        self.register_buffer("senders", senders)
        self.register_buffer("receivers", receivers)
        self.edges = edges  # indices into the full edge list; None: all of them
        n_edges = len(senders)
        native = tp.native
        self.native = Native(native.irreps_in1, native.irreps_out, native.irreps_in2, native.weights,
                             native.weight_numel, native.path_labels, rows=(num_nodes, n_edges, n_edges, num_nodes))

    def forward(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        messages = self.tp(x[self.senders], y, w) if w is not None else self.tp(x[self.senders], y)
        out = messages.new_zeros(self.num_nodes, messages.shape[-1])
        return out.index_add(0, self.receivers, messages)

    def restricted(self, nodes: torch.Tensor) -> "ReferenceConv":
        """The reference over the edges whose receiver is in ``nodes``; ``.edges`` says which they are."""
        keep = torch.isin(self.receivers, nodes).nonzero().flatten()
        return ReferenceConv(self.tp, self.senders[keep], self.receivers[keep], self.num_nodes, keep)


@register_reference("conv")
def _conv(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    paths = tp_paths(edge_problem(problem))
    if native is not None:
        paths = reorder_output(paths, native.irreps_out)
    senders, receivers, n = graph_tensors(problem, "cpu")
    return ReferenceConv(ReferenceCG(paths, problem.weights), senders, receivers, n)
