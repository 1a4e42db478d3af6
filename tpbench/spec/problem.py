"""The benchmark problem: what is computed, on which irreps, at which size.

A :class:`Problem` is plain, frozen data. Kernels read it; FLOP and byte
counts, inputs and references derive from it. Its :attr:`Problem.id` is a hash
of the canonical form (everything that changes the math or the size, nothing
that only names it), so results of different runs line up by problem.

Operations
----------
``tp``
    A bilinear tensor product ``z = T(x, y[, w])`` with ``x`` in
    ``irreps_in1``, ``y`` in ``irreps_in2`` and ``z`` in ``irreps_out``.
    ``connection`` says which paths exist and how channels couple:

    * ``full``: every path ``(i1, i2 -> l3)`` allowed by the selection rules
      (``|l1-l2| <= l3 <= l1+l2``, ``p1 p2 = p3``) whose output irrep occurs
      in ``irreps_out``; no weights. ``irreps_out`` lists the wanted output
      irreps (a filter); a kernel's native output says how many copies it
      produces (full CG: one per path, Gaunt: one per ``l3``).
    * ``channelwise``: e3nn mode ``uvu`` (MACE / NequIP message), one weight
      per (channel, path); ``irreps_out`` is the exact output (MACE's sorted
      recipe, one ``mul x ir_out`` block per path).
    * ``fully_connected``: mode ``uvw``, every output channel mixes every
      input channel pair; ``irreps_out`` is the exact output.

``linear``
    ``z = W x`` per irrep type (e3nn ``o3.Linear``), shared weights.
``gate``
    e3nn ``nn.Gate``: ``irreps_in1`` holds scalars, gates and gated irreps;
    no weights.
``conv``
    The message-passing convolution on an atomic graph (:mod:`tpbench.spec.conv`):
    ``out_i = sum_{j -> i} T(x_j, y_ij, w_ij)`` with ``T`` the ``tp`` above
    (same irreps, connection and weights, per edge). ``batch`` counts edges;
    :attr:`Problem.graph` names the graph and enters the canonical form.
``sh``
    Spherical harmonics of edge vectors: ``(batch, 3) -> (batch, irreps_out.dim)``
    (:mod:`tpbench.oracle.references.sh`); ``irreps_in1`` is ``1x1o``, no weights.
``symmetric_contraction``
    MACE's product basis (:mod:`tpbench.oracle.references.symmetric`): per node, the
    symmetric powers ``A^{⊗ν}`` (``ν = 1..correlation``) of ``irreps_in1``
    contracted to ``irreps_out`` with weights chosen by the node's species;
    params ``correlation``, ``num_elements``, ``sorted`` (species order).
``so2_conv``
    The SO(2) convolution of eSCN (:mod:`tpbench.oracle.references.so2`): per edge,
    sender features ``irreps_in1`` and the edge vector (``irreps_in2 = 1x1o``)
    → ``irreps_out``, per-edge weights per ``|m| <= m_max``; param ``m_max``.
``rotate``
    Per edge, features ``irreps_in1`` rotated into the edge's frame (the edge vector,
    ``irreps_in2 = 1x1o``), truncated to ``|m| <= m_max`` and rotated back
    (:mod:`tpbench.oracle.references.rotate`): the Wigner-D work of the SO(2) route; param ``m_max``.
``model_block``
    One MACE-architecture layer on a radius graph, per-atom energies out
    (:mod:`tpbench.spec.model_block`): inputs positions ⊕ features (``N``),
    edge shifts (``E``), one shared weight vector.

Weights are always passed to a kernel as an input tensor — shape
``(weight_numel,)`` when ``weights == "shared"`` and ``(batch, weight_numel)``
when ``"per-sample"`` — in e3nn's flattening order, so that every kernel is
checked against the reference with the very same numbers.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from functools import cached_property
from typing import Any

from e3nn import o3

from tpbench.spec.errors import UserError
from tpbench.spec.precision import DTYPES

OPERATIONS = ("tp", "linear", "gate", "conv", "sh", "symmetric_contraction", "so2_conv", "model_block", "rotate")
GRAPH_OPERATIONS = ("conv", "model_block")  # a graph baked in: part of the id
# Parameters that change the math of an operation beyond its irreps; part of its id.
CANONICAL_PARAMS: dict[str, tuple[str, ...]] = {
    "symmetric_contraction": ("correlation", "num_elements", "sorted"),
    "so2_conv": ("m_max",),
    "rotate": ("m_max",),
    "model_block": ("config", "mul", "L_hidden", "L_sh", "correlation", "radial", "bessel", "avg_neighbors"),
}
CONNECTIONS = ("full", "channelwise", "fully_connected")
WEIGHT_MODES = ("none", "shared", "per-sample")


def parse_irreps(text: str | o3.Irreps | None, what: str = "irreps") -> o3.Irreps | None:
    """Parse an e3nn irreps string, raising :class:`UserError` naming the bad text."""
    if text is None:
        return None
    try:
        return o3.Irreps(text)
    except (ValueError, AssertionError, TypeError) as exc:
        raise UserError(f"malformed {what} {str(text)!r}: {exc}") from None


@dataclasses.dataclass(frozen=True)
class Problem:
    """One benchmark problem. Irreps are stored as canonical e3nn strings."""

    op: str
    irreps_in1: str
    irreps_out: str
    irreps_in2: str | None = None
    connection: str = "full"
    weights: str = "none"
    batch: int = 1024
    dtype: str = "float32"
    family: str = "custom"
    params: tuple[tuple[str, Any], ...] = ()
    graph: tuple[tuple[str, Any], ...] = ()  # conv only: the graph's parameters, size and hash

    def __post_init__(self) -> None:
        if self.op not in OPERATIONS:
            raise UserError(f"unknown operation {self.op!r}; expected one of {', '.join(OPERATIONS)}")
        if self.connection not in CONNECTIONS:
            raise UserError(f"unknown connection {self.connection!r}; expected one of {', '.join(CONNECTIONS)}")
        if self.weights not in WEIGHT_MODES:
            raise UserError(f"unknown weight mode {self.weights!r}; expected one of {', '.join(WEIGHT_MODES)}")
        if self.dtype not in DTYPES:
            raise UserError(f"unknown dtype {self.dtype!r}; expected one of {', '.join(DTYPES)}")
        if int(self.batch) < 1:
            raise UserError(f"batch must be positive, got {self.batch}")
        if self.op in ("tp", "conv") and self.irreps_in2 is None:
            raise UserError(f"a {'tensor product' if self.op == 'tp' else 'convolution'} needs irreps_in2")
        if (self.op in GRAPH_OPERATIONS) != bool(self.graph):
            raise UserError("a convolution or model block needs a graph, and only those have one")
        missing = [k for k in CANONICAL_PARAMS.get(self.op, ()) if k not in dict(self.params)]
        if missing:
            raise UserError(f"operation {self.op!r} needs the parameters {', '.join(missing)}")
        # Canonicalise the irreps text so equal problems hash equally.
        for field in ("irreps_in1", "irreps_in2", "irreps_out"):
            value = getattr(self, field)
            if value is not None:
                object.__setattr__(self, field, str(parse_irreps(value, field)))
        object.__setattr__(self, "batch", int(self.batch))
        object.__setattr__(self, "params", tuple(sorted(dict(self.params).items())))
        object.__setattr__(self, "graph", tuple(sorted(dict(self.graph).items())))

    # -- parsed views -------------------------------------------------------
    @cached_property
    def in1(self) -> o3.Irreps:
        return o3.Irreps(self.irreps_in1)

    @cached_property
    def in2(self) -> o3.Irreps | None:
        return None if self.irreps_in2 is None else o3.Irreps(self.irreps_in2)

    @cached_property
    def out(self) -> o3.Irreps:
        return o3.Irreps(self.irreps_out)

    @property
    def lmax(self) -> int:
        return max(ir.l for _, ir in (self.in1 + (self.in2 or o3.Irreps("")) + self.out))

    # -- identity -----------------------------------------------------------
    def canonical(self) -> dict[str, Any]:
        """Everything that defines the math and the size, as plain JSON data."""
        data = {
            "op": self.op,
            "irreps_in1": self.irreps_in1,
            "irreps_in2": self.irreps_in2,
            "irreps_out": self.irreps_out,
            "connection": self.connection,
            "weights": self.weights,
            "batch": self.batch,
            "dtype": self.dtype,
        }
        if self.graph:  # only conv problems: every other id stays what it was
            data["graph"] = dict(self.graph)
        if self.op in CANONICAL_PARAMS:
            data["params"] = {k: dict(self.params)[k] for k in CANONICAL_PARAMS[self.op]}
        return data

    @functools.cached_property
    def id(self) -> str:  # cached: a sweep asks for it for every case, many times (the problem is frozen)
        text = json.dumps(self.canonical(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        """Short human name, e.g. ``mimo L=3 batch=10000 float32``."""
        args = " ".join(f"{k}={v}" for k, v in self.params)
        return " ".join(x for x in (self.family, args, f"batch={self.batch}", self.dtype) if x)

    def to_dict(self) -> dict[str, Any]:
        data = self.canonical()
        data.update(family=self.family, params=dict(self.params), id=self.id, label=self.label)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Problem":
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in fields}
        kwargs["params"] = tuple(dict(kwargs.get("params") or {}).items())
        kwargs["graph"] = tuple(dict(kwargs.get("graph") or {}).items())
        return cls(**kwargs)

    def replace(self, **changes: Any) -> "Problem":
        return dataclasses.replace(self, **changes)
