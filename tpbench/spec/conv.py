"""The convolution problem: a tensor product per edge of an atomic graph, summed into nodes.

For a graph with ``N`` nodes and ``E`` directed edges ``e = (j -> i)``
(:mod:`tpbench.spec.graphs`: sender ``j = senders[e]``, receiver ``i = receivers[e]``)::

    m_e   = T(x_{senders[e]}, y_e, w_e)           the per-edge tensor product (``tp`` problem)
    out_i = sum_{e : receivers[e] = i} m_e

``x`` is ``(N, irreps_in1.dim)`` node features, ``y`` is ``(E, irreps_in2.dim)``
edge features (the edge spherical harmonics in a model), ``w`` is ``(E,
weight_numel)`` per-edge weights (a radial MLP's output in a model) and
``out`` is ``(N, irreps_out.dim)``. A conv :class:`~tpbench.spec.problem.Problem`
has the per-edge problem's irreps, connection and weights, ``batch = E``, and
its :attr:`~tpbench.spec.problem.Problem.graph` holds the graph's parameters,
size and hash (in the canonical form, so the id changes with the graph).

Work of the forward pass, counted once here for every conv kernel:

* FLOPs: the per-edge TP's FLOPs at batch ``E`` plus ``E · irreps_out.dim``
  additions of the scatter (the gather moves data only).
* bytes: the fewest a fused kernel must move — ``x``, ``y``, ``w`` and ``out``
  once each, and the two ``int64`` index arrays. An unfused kernel moves
  ``2 · E · (dim_in1 + dim_out)`` elements more (it writes and reads back the
  gathered features and the messages); the count stays the fused minimum for
  every kernel, so the roofline shows what that traffic costs.
"""

from __future__ import annotations

import torch

from tpbench.spec.errors import UserError
from tpbench.spec.graphs import Graph, build_graph, reps_for
from tpbench.spec.problem import Problem

INDEX_BYTES = 8


def conv_problem(tp: Problem, structure: str, atoms: int, cutoff: float, order: str, family: str,
                 params: tuple = ()) -> Problem:
    """The convolution of the per-edge problem ``tp`` on the radius graph of ``structure``."""
    if tp.op != "tp":
        raise UserError(f"a convolution needs a tensor product per edge, got operation {tp.op!r}")
    if isinstance(atoms, bool) or not isinstance(atoms, int) or atoms < 1:
        raise UserError(f"atoms must be a positive integer, got {atoms!r}")
    graph = build_graph(structure, reps_for(structure, atoms), cutoff, order)
    meta = graph.metadata()
    shown = (("structure", structure), ("atoms", meta["atoms"]), ("cutoff", float(cutoff)), ("order", order))
    return Problem("conv", tp.irreps_in1, tp.irreps_out, tp.irreps_in2, connection=tp.connection,
                   weights=tp.weights, batch=meta["edges"], dtype=tp.dtype, family=family,
                   params=shown + tuple(params), graph=tuple(meta.items()))


def edge_problem(problem: Problem) -> Problem:
    """The per-edge tensor product of a conv problem, at batch ``E``."""
    return Problem("tp", problem.irreps_in1, problem.irreps_out, problem.irreps_in2, connection=problem.connection,
                   weights=problem.weights, batch=problem.batch, dtype=problem.dtype, family=problem.family,
                   params=problem.params)


def graph_of(problem: Problem) -> Graph:
    """Rebuild the graph of a conv problem from its parameters; refuse one whose hash differs."""
    g = dict(problem.graph)
    try:
        graph = build_graph(g["structure"], int(g["reps"]), float(g["cutoff"]), g["order"])
    except KeyError as exc:
        raise UserError(f"conv problem {problem.id} has no graph parameter {exc}") from None
    if graph.hash != g.get("hash"):
        raise UserError(f"graph of conv problem {problem.id} rebuilt with hash {graph.hash}, "
                        f"expected {g.get('hash')} (another ASE/matscipy version?)")
    return graph


def graph_tensors(problem: Problem, device: str | torch.device) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(senders, receivers, num_nodes)`` as ``int64`` tensors on ``device``."""
    graph = graph_of(problem)
    return (torch.as_tensor(graph.senders, device=device), torch.as_tensor(graph.receivers, device=device),
            graph.num_nodes)


def num_nodes(problem: Problem) -> int:
    return int(dict(problem.graph)["atoms"])


def conv_flops(problem: Problem, tp_flops: float | None) -> float | None:
    """The per-edge TP's FLOPs plus the scatter's additions."""
    if tp_flops is None:
        return None
    return float(tp_flops + problem.batch * problem.out.dim)


def conv_bytes(problem: Problem, dims: tuple[int, int, int, int], element_size: int) -> float:
    """Fewest bytes: ``dims = (dim_in1, dim_in2, weight_numel per edge, dim_out)``."""
    d1, d2, nw, do = dims
    n, e = num_nodes(problem), problem.batch
    return float(element_size * (n * (d1 + do) + e * (d2 + nw)) + 2 * INDEX_BYTES * e)
