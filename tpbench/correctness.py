"""The correctness gate: nothing is timed before it has been checked.

For a kernel ``f`` on a problem, with the float64 reference ``r`` of the same
operation on the same native irreps and fresh standard-normal inputs:

* ``fwd``: ``max_b ‖f(x)_b − r(x)_b‖ / ‖r(x)_b‖`` over output irrep blocks ``b``
  (:func:`tpbench.equivariance.block_error`: a global norm hides small
  high-``l`` paths).
* ``fwd+bwd``: the same error for the gradient of every input, weights
  included, under one random cotangent; the maximum over inputs.
* ``fwd+bwd+bwd``: the same for the double-backward gradients (see
  :mod:`tpbench.inputs`).
* ``full_batch``: the forward error on sampled rows (first, last, random) of a
  run at the problem's full batch size — catches indexing overflow.
* ``rotation`` / ``inversion``: equivariance errors
  (:mod:`tpbench.equivariance`); the inversion only for O(3) kernels.

A pass is correct when every error that applies to it is within the
tolerance of the problem's precision (:data:`TOLERANCES`). Kernels that are
only approximately equivariant (``exactly_equivariant = False``) have their
equivariance error recorded but not gated.

The per-block output variance for unit-variance inputs is recorded too, so
that libraries with other normalisations show it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from tpbench.equivariance import block_error, equivariance_errors
from tpbench.inputs import for_kernel, from_kernel, input_irreps, make_inputs, pass_function
from tpbench.kernel import Kernel, torch_dtype
from tpbench.layout import convert
from tpbench.problem import Problem

# Relative-error tolerances per precision: forward, gradients, equivariance.
TOLERANCES: dict[str, dict[str, float]] = {
    "float64": {"fwd": 1e-10, "grad": 1e-10, "equivariance": 1e-10},
    "float32": {"fwd": 1e-5, "grad": 3e-4, "equivariance": 1e-5},
    "tf32": {"fwd": 1e-3, "grad": 3e-3, "equivariance": 1e-3},
    "bfloat16": {"fwd": 1e-2, "grad": 3e-2, "equivariance": 1e-2},
    "float16": {"fwd": 1e-2, "grad": 3e-2, "equivariance": 1e-2},
}

GATE_BATCH = 16
FULL_BATCH_ROWS = 32


@dataclasses.dataclass
class GateResult:
    """Errors per check, tolerances, and which passes may be timed."""

    errors: dict[str, float] = dataclasses.field(default_factory=dict)
    failures: dict[str, str] = dataclasses.field(default_factory=dict)  # pass -> why not correct
    crashed: dict[str, str] = dataclasses.field(default_factory=dict)  # pass -> exception text
    tolerances: dict[str, float] = dataclasses.field(default_factory=dict)
    output_variance: list[float] = dataclasses.field(default_factory=list)

    def verdict(self, pass_: str) -> tuple[str, str | None]:
        """``("ok", None)``, ``("incorrect", why)`` or ``("error", exception)`` for a pass."""
        if pass_ in self.crashed:
            return "error", self.crashed[pass_]
        if pass_ in self.failures:
            return "incorrect", self.failures[pass_]
        return "ok", None

    def errors_for(self, pass_: str) -> dict[str, Any]:
        keys = ["fwd", "full_batch", "rotation", "inversion"]
        if pass_ != "fwd":
            keys.append("fwd+bwd")
        if pass_ == "fwd+bwd+bwd":
            keys.append("fwd+bwd+bwd")
        return {k: self.errors[k] for k in keys if k in self.errors}


class _Canonical:
    """Calls a kernel module on float64 canonical inputs and returns float64 ``mul_ir`` output."""

    def __init__(self, kernel: Kernel, module: torch.nn.Module, native, dtype: torch.dtype, device: str, perm):
        self.kernel, self.module, self.native, self.dtype, self.device = kernel, module, native, dtype, device
        self.perm = perm

    def inputs(self, tensors) -> list[torch.Tensor]:
        return for_kernel(tensors, self.native, self.kernel, self.dtype, self.device, self.perm)

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = self.module(*self.inputs(inputs))
        return convert(out.double().cpu(), self.native.irreps_out, self.kernel.layout, "mul_ir")


def _grad_error(call: _Canonical, ref, pass_, x, cot, vs) -> float:
    """Max over inputs of the block error of the (double-)backward gradients."""
    native, kernel = call.native, call.kernel
    kcot = convert(cot, native.irreps_out, "mul_ir", kernel.layout).to(device=call.device, dtype=call.dtype)
    got = pass_function(call.module, pass_, call.inputs(x), kcot, call.inputs(vs))()
    got = from_kernel(got, native, kernel, call.perm, x)
    want = [torch.zeros_like(t) if r is None else r for r, t in zip(pass_function(ref, pass_, list(x), cot, vs)(), x)]
    return max(block_error(g, r, irreps) for g, r, irreps in zip(got, want, input_irreps(native)))


def _full_batch_error(call: _Canonical, ref, native, batch: int, gen: torch.Generator) -> tuple[float, torch.Tensor]:
    x = make_inputs(native, batch, gen)
    out = call(*x)
    rows = torch.unique(torch.cat([torch.tensor([0, batch - 1]),
                                   torch.randint(0, batch, (FULL_BATCH_ROWS - 2,), generator=gen)]))
    sub = [t[rows] if (t.dim() == 2 or not t.is_floating_point()) and t.shape[0] == batch else t for t in x]
    with torch.no_grad():
        expected = ref(*sub)
    return block_error(out[rows], expected, native.irreps_out), out


def run_gate(kernel: Kernel, problem: Problem, module: torch.nn.Module, device: str,
             passes: list[str], seed: int = 0) -> GateResult:
    """Check ``module`` (built by ``kernel`` for ``problem``) for every pass in ``passes``."""
    result = GateResult(tolerances=dict(TOLERANCES[problem.dtype]))
    tol = result.tolerances
    dtype = torch_dtype(problem.dtype)
    native = kernel.native(problem)
    ref = kernel.reference(problem).double()
    gen = torch.Generator().manual_seed(seed)
    call = _Canonical(kernel, module, native, dtype, device, kernel.weight_permutation(problem))

    x = make_inputs(native, GATE_BATCH, gen)
    with torch.no_grad():
        expected = ref(*x)
    e = result.errors
    e["fwd"] = block_error(call(*x), expected, native.irreps_out)
    e["full_batch"], big_out = _full_batch_error(call, ref, native, problem.batch, gen)
    rows = big_out[:1024]
    result.output_variance = [rows[:, sl].pow(2).mean().item() for sl in native.irreps_out.slices()]
    e.update(equivariance_errors(call, input_irreps(native), native.irreps_out, x, kernel.symmetry, gen))

    forward_bad = [f"{k} error {e[k]:.2e} > {tol['fwd']:.0e}" for k in ("fwd", "full_batch") if not e[k] <= tol["fwd"]]
    if kernel.exactly_equivariant:
        forward_bad += [f"{k} equivariance error {e[k]:.2e} > {tol['equivariance']:.0e}"
                        for k in ("rotation", "inversion") if k in e and not e[k] <= tol["equivariance"]]

    cot = torch.randn(GATE_BATCH, native.irreps_out.dim, generator=gen, dtype=torch.float64)
    vs = [torch.randn(t.shape, generator=gen, dtype=torch.float64) for t in x]
    for pass_ in passes:
        bad = list(forward_bad)
        for p in ("fwd+bwd", "fwd+bwd+bwd")[: ("fwd", "fwd+bwd", "fwd+bwd+bwd").index(pass_)]:
            if p not in e and p not in result.crashed:
                try:
                    e[p] = _grad_error(call, ref, p, x, cot, vs)
                except (RuntimeError, NotImplementedError) as exc:
                    result.crashed[p] = f"{type(exc).__name__}: {exc}"
            if p in result.crashed:
                result.crashed[pass_] = result.crashed[p]
            elif not e[p] <= tol["grad"]:
                bad.append(f"{p} gradient error {e[p]:.2e} > {tol['grad']:.0e}")
        if bad and pass_ not in result.crashed:
            result.failures[pass_] = "; ".join(bad)
    return result
