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
timed region. Weights are flattened in e3nn's order (:mod:`tpbench.spec.paths`).

A minimal user kernel (see the README for a complete file)::

    class MyTP(tpbench.Kernel):
        name, family, backend = "my-tp", "cg", "torch"
        def supports(self, problem, device):
            return None if problem.op == "tp" and problem.connection == "full" else "full TP only"
        def build(self, problem, device, dtype):
            return MyModule(problem).to(device=device, dtype=dtype)
"""

from __future__ import annotations

from typing import ClassVar

import torch

from tpbench.spec.native import Native, default_native
from tpbench.spec.passes import PASSES
from tpbench.spec.precision import default_dtype, torch_dtype
from tpbench.spec.problem import Problem
from tpbench.spec.work import minimal_bytes

__all__ = ["Kernel", "Native", "build_module", "default_dtype", "torch_dtype"]


class Kernel:
    """Base class of every kernel. Subclass it, set the class attributes, implement :meth:`build`."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    backend: ClassVar[str] = "torch"
    operation: ClassVar[str] = "cg"  # key into tpbench.oracle.references: the math this kernel computes
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
        """Default: the problem's own irreps (right for full CG, linear, gate, channelwise, fully connected)."""
        return default_native(problem)

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        raise NotImplementedError

    def weight_permutation(self, problem: Problem) -> torch.Tensor | None:
        """Index ``perm`` with ``kernel_weights = canonical_weights[..., perm]``; ``None`` if in e3nn's order.

        It may instead be a linear map: an object with ``forward(w)`` (canonical →
        kernel weights) and ``adjoint(g)`` (kernel-weight gradients → canonical
        ones), for a kernel whose weights live in another basis.

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
        return minimal_bytes(self.native(problem), problem)

    def describe(self) -> dict:
        return {
            "kernel": self.name,
            "family": self.family,
            "backend": self.backend,
            "operation": self.operation,
            "symmetry": self.symmetry,
            "layout": self.layout,
            "exactly_equivariant": self.exactly_equivariant,
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def build_module(kernel: Kernel, problem: Problem, device: str) -> torch.nn.Module:
    """``kernel.build`` under the problem's default dtype (see :func:`default_dtype`)."""
    dtype = torch_dtype(problem.dtype)
    with default_dtype(dtype):
        return kernel.build(problem, device, dtype)
