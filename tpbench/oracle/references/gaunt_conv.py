"""Float64 reference of the channelwise Gaunt convolution (:mod:`tpbench.spec.gaunt_conv`).

Composed of the ``gaunt`` oracle (:mod:`.gaunt`, the projection of the product
of spherical signals, coefficients from an exact quadrature) applied to every
(edge, channel) pair, the per-degree edge weights and the scatter of
:class:`.conv.ReferenceConv`.
"""

from __future__ import annotations

import torch

from tpbench.spec import gaunt_conv as spec
from tpbench.spec.conv import graph_tensors
from tpbench.spec.native import Native
from tpbench.spec.problem import Problem


class ChannelwiseGaunt(torch.nn.Module):
    """``module(x (E, mul x s2(L_hidden)), y (E, s2(L_sh)), w (E, (L_sh+1)·mul)) -> (E, mul x s2(L_sh))``."""

    def __init__(self, problem: Problem):
        from tpbench.oracle.references import reference_for  # the table imports this module

        super().__init__()
        self.gaunt = reference_for("gaunt", spec.per_channel_problem(problem, 1))
        self.native = spec.native(problem)
        self.L = spec.shape(problem)[2]

    def forward(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        xc = spec.channels(x, self.native.irreps_in1)
        z = self.gaunt(xc, y[..., None, :].expand(*xc.shape[:-1], y.shape[-1]))
        return spec.from_channels(spec.weigh(z, w, self.L), self.native.irreps_out)


def gaunt_conv(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    from tpbench.oracle.references.conv import ReferenceConv

    senders, receivers, n = graph_tensors(problem, "cpu")
    return ReferenceConv(ChannelwiseGaunt(problem), senders, receivers, n)
