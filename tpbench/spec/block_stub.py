"""The stub convolution: what a model block costs without its convolution (for Amdahl's fraction).

``conv-stub`` keeps one path of the CG channelwise conv — ``0e x 0e -> 0e``,
the first path, the first ``mul`` weights and output columns — and zeroes
every other output column::

    out_{i,u,0e} = c · Σ_{e -> i} w_{e,u} x_{j,u,0e} y_{e,0e},    every other column 0

(``c`` the CG path weight). It is exact, equivariant and almost free, so a
block with it (``model_block-stub-conv``) times everything but the conv; it
computes another operation and is never ranked (:mod:`tpbench.metrics.block_prediction`).
"""

from __future__ import annotations

from tpbench.spec.conv import edge_problem
from tpbench.spec.paths import channelwise_paths
from tpbench.spec.problem import Problem

OPERATION = "conv-stub"
KEPT_PATH = "0e x 0e -> 0e"


def kept(problem: Problem) -> tuple[int, float]:
    """``(mul, c)``: the kept path's channels (its weights and output columns are the first ``mul``) and weight."""
    e = edge_problem(problem)
    paths = channelwise_paths(e.in1, e.in2, e.out)
    first = paths.paths[0]
    if paths.path_labels()[0] != KEPT_PATH or first.i_out != 0 or str(paths.irreps_out[0].ir) != "0e":
        raise ValueError(f"stub conv: the first path of {problem.label} is not {KEPT_PATH} into the first block")
    return paths.irreps_out[0].mul, float(first.weight)
