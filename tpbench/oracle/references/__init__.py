"""Float64 references: the oracles kernels are judged by, one per operation.

A kernel names the math it computes (``Kernel.operation``); the judge comes
from this table, never from the kernel. Each builder is
``builder(problem, native, **params) -> float64 module`` with a ``.native``
attribute (what it consumes and produces); ``native`` lets a kernel's output
block order be matched (full CG in another path order, say) without changing
the math. Parameters of an operation are part of its name:
``"grid-mlp(q=3)"`` is the grid MLP at resolution factor 3.

==================  ==========================================================
operation           reference
==================  ==========================================================
``cg``              :mod:`.cg` — Clebsch–Gordan tensor product, e3nn's normalisation
``linear``          :mod:`.layers` — e3nn's ``o3.Linear``
``gate``            :mod:`.layers` — e3nn's ``nn.Gate``
``gaunt``           :mod:`.gaunt` — projection of the product of spherical signals
``vector-gaunt``    :mod:`.gaunt` — Gaunt plus the cross product of surface gradients
``matrix``          :mod:`.matrix` — the matrix TP (couple by a matrix product)
``grid-mlp(q=Q)``   :mod:`.grid_mlp` — pointwise MLP on a Gauss–Legendre grid
``conv``            :mod:`.conv` — the CG product per edge of a graph, summed into receivers
``conv-gaunt`` …    :mod:`.conv` — the same with the Gaunt (vector-Gaunt, matrix) product per edge
``sh``              :mod:`.sh` — edge spherical harmonics, orthonormal (``integral``)
``sh-component``    :mod:`.sh` — the same in e3nn's ``component`` normalisation (``norm``: ``sh-norm``)
``symmetric_``      :mod:`.symmetric` — MACE's product basis: symmetrised CG coupling trees
``contraction``
``so2_conv``        :mod:`.so2` — the eSCN convolution, through its CG-convolution equivalence
``rotate``          :mod:`.rotate` — into the edge frame, ``|m| <= m_max``, back: the projector about ``r̂``
``model_block``     :mod:`.block` — a MACE layer composed of the references above (sh-component, conv,
                    symmetric_contraction, linear) and its radial embedding
``conv-gaunt-``     :mod:`.gaunt_conv` — the channelwise conv with the Gaunt product per (edge, channel)
``channelwise``
``conv-stub``,      :mod:`.block_variants` — the CG conv with one path kept; the block with the Gaunt conv
``model_block-*``   (``-gaunt``) or with the stub conv (``-stub-conv``)
==================  ==========================================================
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Callable

import torch

from tpbench.oracle.references import block, cg, conv, gaunt, grid_mlp, layers, matrix, rotate, sh, so2, symmetric
from tpbench.oracle.references import block_variants, gaunt_conv
from tpbench.spec.errors import UserError
from tpbench.spec.native import Native
from tpbench.spec.problem import Problem

REFERENCES: dict[str, Callable[..., torch.nn.Module]] = {
    "cg": cg.cg,
    "linear": layers.linear,
    "gate": layers.gate,
    "gaunt": gaunt.gaunt,
    "vector-gaunt": gaunt.vector_gaunt,
    "matrix": matrix.matrix,
    "grid-mlp": grid_mlp.grid_mlp,
    "conv": conv.conv,
    "conv-gaunt": functools.partial(conv.conv, per_edge="gaunt"),
    "conv-vector-gaunt": functools.partial(conv.conv, per_edge="vector-gaunt"),
    "conv-matrix": functools.partial(conv.conv, per_edge="matrix"),
    "sh": sh.sh,
    "sh-component": functools.partial(sh.sh, normalization="component"),
    "sh-norm": functools.partial(sh.sh, normalization="norm"),
    "symmetric_contraction": symmetric.symmetric_contraction,
    "so2_conv": so2.so2,
    "model_block": block.block,
    "rotate": rotate.rotate,
    "conv-gaunt-channelwise": gaunt_conv.gaunt_conv,
    "conv-stub": block_variants.conv_stub,
    "model_block-gaunt": block_variants.block_gaunt,
    "model_block-stub-conv": block_variants.block_stub,
}

_NAME = re.compile(r"^([\w-]+)(?:\((.*)\))?$")


def parse_operation(operation: str) -> tuple[str, dict[str, int]]:
    """``"grid-mlp(q=3)"`` -> ``("grid-mlp", {"q": 3})``; integer parameters only."""
    match = _NAME.match(operation.strip())
    if not match or match.group(1) not in REFERENCES:
        raise UserError(f"no reference for operation {operation!r}; known: {', '.join(REFERENCES)}")
    params = {}
    for item in filter(None, (match.group(2) or "").split(",")):
        key, _, value = item.partition("=")
        if not value.strip().lstrip("-").isdigit():
            raise UserError(f"operation {operation!r}: parameter {item.strip()!r} is not name=integer")
        params[key.strip()] = int(value)
    return match.group(1), params


def reference_for(operation: str, problem: Problem, native: Native | None = None) -> torch.nn.Module:
    """The float64 module of ``operation`` on ``problem`` (in ``native``'s output order where it has one)."""
    name, params = parse_operation(operation)
    try:
        inspect.signature(REFERENCES[name]).bind(problem, native, **params)
    except TypeError as exc:
        raise UserError(f"operation {operation!r}: {exc}") from None
    return REFERENCES[name](problem, native, **params)
