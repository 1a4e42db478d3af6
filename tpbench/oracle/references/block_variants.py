"""Float64 references of the model blocks that compute other operations, and of their convolutions.

* ``conv-stub`` (:mod:`tpbench.spec.block_stub`): the CG conv reference with every weight but the
  kept path's zeroed — the stub's definition, judged by the ``conv`` oracle itself;
* ``model_block-gaunt``: the block reference (:mod:`.block`) with the channelwise Gaunt conv
  (:mod:`.gaunt_conv`) in place of the CG conv;
* ``model_block-stub-conv``: the block reference with the stub conv.
"""

from __future__ import annotations

import torch

from tpbench.spec.block_stub import kept
from tpbench.spec.native import Native
from tpbench.spec.problem import Problem


class _KeptPath(torch.nn.Module):
    def __init__(self, tp: torch.nn.Module, mul: int):
        super().__init__()
        self.tp, self.native, self.mul = tp, tp.native, mul

    def forward(self, x, y, w):
        mask = torch.zeros(w.shape[-1], dtype=w.dtype, device=w.device)
        mask[:self.mul] = 1
        return self.tp(x, y, w * mask)


def conv_stub(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    from tpbench.oracle.references.conv import ReferenceConv, conv

    full = conv(problem)
    return ReferenceConv(_KeptPath(full.tp, kept(problem)[0]), full.senders, full.receivers, full.num_nodes)


def block_gaunt(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    from tpbench.oracle.references.block import ReferenceBlock

    return ReferenceBlock(problem, conv_operation="conv-gaunt-channelwise")


def block_stub(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    from tpbench.oracle.references.block import ReferenceBlock

    return ReferenceBlock(problem, conv_operation="conv-stub")
