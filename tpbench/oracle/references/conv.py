"""Float64 reference of the convolution, written from its definition (:mod:`tpbench.spec.conv`).

``out_i = sum_{e : receivers[e] = i} T(x_{senders[e]}, y_e, w_e)`` with ``T``
the float64 reference of the per-edge operation on the kernel's native output
irreps: the clear per-path CG reference (:class:`tpbench.oracle.references.ReferenceCG`)
for operation ``conv``, the Gaunt, vector-Gaunt or matrix reference for
``conv-gaunt``, ``conv-vector-gaunt``, ``conv-matrix``
(:func:`conv`: a kernel whose per-edge product is another operation is
judged by that operation's oracle, composed here).

:meth:`ReferenceConv.restricted` keeps only the edges into some receivers:
the gate compares a kernel on the whole graph with the reference on those
edges, which decide the output rows of those receivers exactly — and, under a
cotangent that is zero on every other row, every gradient too.
"""

from __future__ import annotations

import dataclasses

import torch

from tpbench.spec.conv import edge_problem, graph_tensors
from tpbench.spec.native import Native
from tpbench.spec.problem import Problem


class ReferenceConv(torch.nn.Module):
    """``module(x (N, d1), y (E', d2), w (E', numel)) -> (N, d_out)`` over the edges it holds."""

    def __init__(self, tp: torch.nn.Module, senders: torch.Tensor, receivers: torch.Tensor, num_nodes: int,
                 edges: torch.Tensor | None = None):
        super().__init__()
        self.tp = tp
        self.num_nodes = num_nodes
        self.register_buffer("senders", senders)
        self.register_buffer("receivers", receivers)
        self.edges = edges  # indices into the full edge list; None: all of them
        n_edges = len(senders)
        rows = (num_nodes, n_edges) + ((n_edges,) if tp.native.weights != "none" else ()) + (num_nodes,)
        self.native = dataclasses.replace(tp.native, rows=rows)

    def forward(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        messages = self.tp(x[self.senders], y, w) if w is not None else self.tp(x[self.senders], y)
        out = messages.new_zeros(self.num_nodes, messages.shape[-1])
        return out.index_add(0, self.receivers, messages)

    def restricted(self, nodes: torch.Tensor) -> "ReferenceConv":
        """The reference over the edges whose receiver is in ``nodes``; ``.edges`` says which they are."""
        keep = torch.isin(self.receivers, nodes).nonzero().flatten()
        return ReferenceConv(self.tp, self.senders[keep], self.receivers[keep], self.num_nodes, keep)


def conv_operation(per_edge: str) -> str:
    """The operation name of a convolution whose per-edge product is ``per_edge``."""
    return "conv" if per_edge == "cg" else f"conv-{per_edge}"


def conv(problem: Problem, native: Native | None = None, per_edge: str = "cg") -> torch.nn.Module:
    """The convolution whose per-edge product is judged by ``per_edge``'s oracle."""
    from tpbench.oracle.references import reference_for  # the table imports this module

    edge_native = None if native is None else dataclasses.replace(native, rows=())
    tp = reference_for(per_edge, edge_problem(problem), edge_native)
    senders, receivers, n = graph_tensors(problem, "cpu")
    return ReferenceConv(tp, senders, receivers, n)
