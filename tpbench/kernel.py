"""The kernel interface: one class per implementation of an operation.

A kernel says *what* it computes (``operation``, checked against the float64
reference of that operation, and ``symmetry``), *on which irreps*
(:meth:`Kernel.native`: what it really consumes and produces — full CG yields
one output block per path, Gaunt one per degree), *where* it runs
(:meth:`supports`), and *how* (:meth:`build`). Work is counted analytically
(:meth:`flops`, :meth:`bytes`), never measured.

Calling convention of a built module, the same for every kernel::

    tp:      module(x1, x2)            weights == "none"
             module(x1, x2, w)         w: (weight_numel,) shared or (batch, weight_numel) per-sample
    linear:  module(x, w)
    gate:    module(x)

Tensors are ``(batch, irreps.dim)`` in the kernel's :attr:`layout`
(``mul_ir`` as e3nn, or ``ir_mul``); the harness converts inputs outside the
timed region. Weights are flattened in e3nn's order (:mod:`tpbench.paths`).

A minimal user kernel (see the README for a complete file)::

    class MyTP(tpbench.Kernel):
        name, family, backend = "my-tp", "cg", "torch"
        def supports(self, problem, device):
            return None if problem.op == "tp" and problem.connection == "full" else "full TP only"
        def build(self, problem, device, dtype):
            return MyModule(problem).to(device=device, dtype=dtype)
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import ClassVar

import torch
from e3nn import o3

from tpbench.problem import Problem

PASSES = ("fwd", "fwd+bwd", "fwd+bwd+bwd")
SYMMETRIES = ("O(3)", "SO(3)")


@dataclasses.dataclass(frozen=True)
class Native:
    """What a kernel really consumes and produces on a problem.

    ``weight_numel`` counts the weights passed as the last input (shared or
    per-sample, as ``weights`` says); ``path_labels`` names the
    ``(l1, l2 -> l3)`` couplings the kernel computes, in output-block order
    where it has one block per path.

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
    index_range: int = 0
    index_sorted: bool = False

    @property
    def input_irreps(self) -> list[o3.Irreps]:
        return [self.irreps_in1] + ([self.irreps_in2] if self.irreps_in2 is not None else [])


class Kernel:
    """Base class of every kernel. Subclass it, set the class attributes, implement :meth:`build`."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    backend: ClassVar[str] = "torch"
    operation: ClassVar[str] = "cg"  # key into tpbench.references: the math this kernel computes
    symmetry: ClassVar[str] = "O(3)"
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    dtypes: ClassVar[tuple[str, ...]] = ("float64", "float32", "tf32")
    passes: ClassVar[tuple[str, ...]] = PASSES
    layout: ClassVar[str] = "mul_ir"
    # Nonlinear layers on a finite grid are only approximately equivariant: their
    # equivariance error is recorded but does not fail the gate.
    exactly_equivariant: ClassVar[bool] = True
    bilinear: ClassVar[bool] = True

    def available(self) -> str | None:
        """``None`` when usable here, else why not (a missing optional package, say)."""
        return None

    def supports(self, problem: Problem, device: str) -> str | None:
        """``None`` when this kernel computes ``problem`` on ``device``, else the reason it does not."""
        if device not in self.devices:
            return f"runs on {', '.join(self.devices)} only"
        if problem.dtype not in self.dtypes:
            return f"dtype {problem.dtype} not supported (supports {', '.join(self.dtypes)})"
        return None

    def native(self, problem: Problem) -> Native:
        """Default: the problem's own irreps (right for linear, gate, channelwise, fully connected)."""
        from tpbench.paths import tp_paths

        if problem.op == "tp":
            paths = tp_paths(problem)
            return Native(paths.irreps_in1, paths.irreps_out, paths.irreps_in2, problem.weights,
                          paths.weight_numel, tuple(paths.path_labels()))
        from tpbench.references import reference_for

        return reference_for(self.operation, problem).native

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        raise NotImplementedError

    def reference(self, problem: Problem) -> torch.nn.Module:
        """The float64 module of the same math on the same native irreps (the oracle)."""
        from tpbench.references import reference_for

        return reference_for(self.operation, problem, self.native(problem))

    def weight_permutation(self, problem: Problem) -> torch.Tensor | None:
        """Index ``perm`` with ``kernel_weights = canonical_weights[..., perm]``; ``None`` if in e3nn's order.

        It may instead be a linear map: an object with ``forward(w)`` (canonical →
        kernel weights) and ``adjoint(g)`` (kernel-weight gradients → canonical
        ones), for a kernel whose weights live in another basis.

        The harness applies it outside the timed region (and maps weight
        gradients back for the gate), as it does for layouts.
        """
        return None

    def effective_method(self, module: torch.nn.Module) -> str | None:
        """What really ran, where a library may silently fall back (cuEquivariance's ``naive``)."""
        return None

    def flops(self, problem: Problem) -> float | None:
        """Analytic forward FLOPs (a multiply-add counts 2); ``None`` when not counted."""
        return None

    def bytes(self, problem: Problem) -> float | None:
        """Fewest bytes the forward pass must move: inputs, weights and output, once each."""
        native = self.native(problem)
        size = torch.empty((), dtype=torch_dtype(problem.dtype)).element_size()
        dims = sum(ir.dim for ir in native.input_irreps) + native.irreps_out.dim
        per_sample = native.weight_numel if native.weights == "per-sample" else 0
        shared = native.weight_numel if native.weights == "shared" else 0
        return float(size * (problem.batch * (dims + per_sample) + shared))

    def describe(self) -> dict:
        return {
            "kernel": self.name,
            "family": self.family,
            "backend": self.backend,
            "operation": self.operation,
            "symmetry": self.symmetry,
            "layout": self.layout,
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def torch_dtype(name: str) -> torch.dtype:
    """The tensor dtype of a precision name (``tf32`` computes in float32 storage)."""
    return {
        "float64": torch.float64,
        "float32": torch.float32,
        "tf32": torch.float32,
        "bfloat16": torch.bfloat16,
        "float16": torch.float16,
    }[name]


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    """Temporarily set torch's default dtype.

    e3nn computes its constants (Wigner D generators, CG buffers) in the default
    dtype at construction: a module built under float32 and cast to float64
    keeps float32-accurate coefficients (~1e-7 relative). Building under the
    target dtype avoids that.
    """
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype if dtype in (torch.float32, torch.float64) else torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def build_module(kernel: Kernel, problem: Problem, device: str) -> torch.nn.Module:
    """``kernel.build`` under the problem's default dtype (see :func:`default_dtype`)."""
    dtype = torch_dtype(problem.dtype)
    with default_dtype(dtype):
        return kernel.build(problem, device, dtype)
