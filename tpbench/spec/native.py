"""What a kernel really consumes and produces on a problem (its *native* irreps)."""

from __future__ import annotations

import dataclasses

from e3nn import o3

from tpbench.spec.problem import Problem


@dataclasses.dataclass(frozen=True)
class Native:
    """What a kernel really consumes and produces on a problem.

    ``weight_numel`` counts the weights passed as the last input (shared or
    per-sample, as ``weights`` says); ``path_labels`` names the
    ``(l1, l2 -> l3)`` couplings the kernel computes, in output-block order
    where it has one block per path. ``rows``, when set, is the leading size
    of each input in order (weights last) and then of the output, for
    operations whose inputs differ in length (``conv``: nodes, edges, edges →
    nodes); empty means every input has ``batch`` rows.

    ``index_range > 0`` adds one integer input after the features and before
    the weights: ``(batch,)`` indices in ``[0, index_range)`` (a node's
    species), sorted when ``index_sorted``. It is invariant under rotations
    and never gets a gradient.
    """

    irreps_in1: o3.Irreps
    irreps_out: o3.Irreps
    irreps_in2: o3.Irreps | None = None
    weights: str = "none"
    weight_numel: int = 0
    path_labels: tuple[str, ...] = ()
    rows: tuple[int, ...] = ()
    index_range: int = 0
    index_sorted: bool = False

    @property
    def input_irreps(self) -> list[o3.Irreps]:
        return [self.irreps_in1] + ([self.irreps_in2] if self.irreps_in2 is not None else [])


def default_native(problem: Problem) -> Native:
    """The problem's own irreps: full CG (one output block per path), linear, gate, channelwise, fully connected."""
    from tpbench.spec.layers import linear_instructions
    from tpbench.spec.paths import tp_paths

    if problem.op == "tp":
        paths = tp_paths(problem)
        return Native(paths.irreps_in1, paths.irreps_out, paths.irreps_in2, problem.weights,
                      paths.weight_numel, tuple(paths.path_labels()))
    if problem.op == "linear":
        numel = sum(problem.in1[i].mul * problem.out[j].mul for i, j, _ in linear_instructions(problem.in1, problem.out))
        return Native(problem.in1, problem.out, None, "shared", numel)
    return Native(problem.in1, problem.out, None, "none", 0)
