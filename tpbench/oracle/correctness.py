"""The correctness gate: nothing is timed before it has been checked.

For a kernel ``f`` on a problem, with the float64 reference ``r`` of the same
operation on the same native irreps and fresh standard-normal inputs:

* ``fwd``: ``max_b ‖f(x)_b − r(x)_b‖ / ‖r(x)_b‖`` over output irrep blocks ``b``
  (:func:`tpbench.oracle.equivariance.block_error`: a global norm hides small
  high-``l`` paths).
* ``fwd+bwd``: the same error for the gradient of every input, weights
  included, under one random cotangent; the maximum over inputs.
* ``fwd+bwd+bwd``: the same for the double-backward gradients (see
  :mod:`tpbench.oracle.inputs`).
* ``full_batch``: the forward error on sampled rows (first, last, random) of a
  run at the problem's full batch size — catches indexing overflow.
* ``rotation`` / ``inversion``: equivariance errors
  (:mod:`tpbench.oracle.equivariance`); the inversion only for O(3) kernels.

A pass is correct when every error that applies to it is within the
tolerance of the problem's precision (:data:`TOLERANCES`). A NaN or infinity
anywhere in an output or gradient makes that error ``inf`` and the pass
``incorrect`` with "non-finite" in its reason; an output or gradient of the
wrong shape or type makes every affected pass ``incorrect`` too. Kernels that are
only approximately equivariant (``exactly_equivariant = False``) have their
equivariance error recorded but not gated.

The per-block output variance for unit-variance inputs is recorded too, so
that libraries with other normalisations show it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch

import math

from tpbench.oracle.equivariance import WrongOutput, block_error, equivariance_errors
from tpbench.oracle.inputs import for_kernel, from_kernel, input_irreps, make_inputs
from tpbench.oracle.references import reference_for
from tpbench.kernel.base import Kernel
from tpbench.spec.precision import torch_dtype
from tpbench.spec.layout import convert
from tpbench.spec.passes import is_backward, pass_function
from tpbench.spec.problem import Problem

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
    wrong: dict[str, str] = dataclasses.field(default_factory=dict)  # check -> wrong shape/type

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


def _why(check: str, what: str, value: float, tol: float) -> str:
    if not math.isfinite(value):
        return f"{check} {what}: non-finite values (NaN or inf) in the kernel's result"
    return f"{check} {what} {value:.2e} > {tol:.0e}"


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
        if not isinstance(out, torch.Tensor) or out.dim() < 1 or out.shape[-1] != self.native.irreps_out.dim:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise WrongOutput(f"output shape {got}, expected last dimension {self.native.irreps_out.dim}")
        return convert(out.double().cpu(), self.native.irreps_out, self.kernel.layout, "mul_ir")


def _grad_error(call: _Canonical, ref, pass_, x, cot, vs) -> float:
    """Max over inputs of the block error of the (double-)backward gradients."""
    native, kernel = call.native, call.kernel
    kcot = convert(cot, native.irreps_out, "mul_ir", kernel.layout).to(device=call.device, dtype=call.dtype)
    got = pass_function(call.module, pass_, call.inputs(x), kcot, call.inputs(vs))()
    # An integer input (a species index) has no gradient: None there, a tensor for every float input.
    if len(got) != len(x) or not all(isinstance(g, torch.Tensor) or not t.is_floating_point() for g, t in zip(got, x)):
        raise WrongOutput(f"{pass_}: {len(got)} gradients, expected {len(x)} tensors")
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
    if problem.op == "conv":  # inputs of different lengths on a baked-in graph: its own gate
        from tpbench.oracle.conv_gate import run_conv_gate

        return run_conv_gate(kernel, problem, module, device, passes, seed)
    if problem.op == "model_block":  # energies of a whole graph: its own gate
        from tpbench.oracle.block_gate import run_block_gate

        return run_block_gate(kernel, problem, module, device, passes, seed)
    result = GateResult(tolerances=dict(TOLERANCES[problem.dtype]))
    tol = result.tolerances
    dtype = torch_dtype(problem.dtype)
    native = kernel.native(problem)
    ref = reference_for(kernel.operation, problem, kernel.native(problem)).double()
    gen = torch.Generator().manual_seed(seed)
    call = _Canonical(kernel, module, native, dtype, device, kernel.weight_permutation(problem))

    x = make_inputs(native, GATE_BATCH, gen)
    with torch.no_grad():
        expected = ref(*x)
    e = result.errors
    try:
        e["fwd"] = block_error(call(*x), expected, native.irreps_out)
        e["full_batch"], big_out = _full_batch_error(call, ref, native, problem.batch, gen)
        rows = big_out[:1024]
        result.output_variance = [rows[:, sl].pow(2).mean().item() for sl in native.irreps_out.slices()]
        e.update(equivariance_errors(call, input_irreps(native), native.irreps_out, x, kernel.symmetry, gen))
    except WrongOutput as exc:  # nothing else about this kernel can be checked
        e.setdefault("fwd", math.inf)
        result.wrong["fwd"] = f"wrong output: {exc}"
        result.failures.update({pass_: result.wrong["fwd"] for pass_ in passes})
        return result

    forward_bad = [_why(k, "error", e[k], tol["fwd"]) for k in ("fwd", "full_batch") if not e[k] <= tol["fwd"]]
    if kernel.exactly_equivariant:
        forward_bad += [_why(k, "equivariance error", e[k], tol["equivariance"])
                        for k in ("rotation", "inversion") if k in e and not e[k] <= tol["equivariance"]]

    cot = torch.randn(GATE_BATCH, native.irreps_out.dim, generator=gen, dtype=torch.float64)
    vs = [torch.randn(t.shape, generator=gen, dtype=torch.float64) for t in x]
    judge_passes(result, passes, forward_bad, lambda p: _grad_error(call, ref, p, x, cot, vs))
    return result


def judge_passes(result: GateResult, passes: list[str], forward_bad: list[str],
                 grad_error: Callable[[str], float]) -> None:
    """Fill ``result``'s verdict per pass: forward failures, then each gradient check the pass needs."""
    e, tol = result.errors, result.tolerances
    for pass_ in passes:
        bad = list(forward_bad)
        for p in ("fwd+bwd", "fwd+bwd+bwd")[: ("fwd", "fwd+bwd", "fwd+bwd+bwd").index(pass_)]:
            if p not in e and p not in result.crashed:
                try:
                    e[p] = grad_error(p)
                except WrongOutput as exc:
                    e[p] = math.inf
                    result.wrong[p] = f"{p} gradient: {exc}"
                except (RuntimeError, NotImplementedError) as exc:
                    result.crashed[p] = f"{type(exc).__name__}: {exc}"
            if p in result.crashed:
                result.crashed[pass_] = result.crashed[p]
            elif p in result.wrong:
                bad.append(result.wrong[p])
            elif not e[p] <= tol["grad"]:
                bad.append(_why(p, "gradient error", e[p], tol["grad"]))
        if bad and pass_ not in result.crashed:
            result.failures[pass_] = "; ".join(bad)


def recheck(kernel: Kernel, problem: Problem, module: torch.nn.Module, device: str, pass_: str,
            seed: int = 0) -> str | None:
    """After timing: why ``module`` is no longer correct, or ``None``.

    Two forward calls on the gate's small inputs (same seed, so the same
    inputs) must each still match the reference, and must agree with each
    other within the forward tolerance — a kernel may differ from call to
    call in the last bits (atomics), not more. For a backward pass the
    gradients of one more call must match too. Cheap: three calls at
    :data:`GATE_BATCH` rows.
    """
    if problem.op == "conv":  # the conv gate again, on the timed graph
        from tpbench.oracle.conv_gate import run_conv_gate

        status, reason = run_conv_gate(kernel, problem, module, device, [pass_], seed).verdict(pass_)
        return None if status == "ok" else f"after timing: {reason}"
    if problem.op == "model_block":  # the block gate again, on the timed graph
        from tpbench.oracle.block_gate import run_block_gate

        status, reason = run_block_gate(kernel, problem, module, device, [pass_], seed).verdict(pass_)
        return None if status == "ok" else f"after timing: {reason}"
    tol = TOLERANCES[problem.dtype]
    native = kernel.native(problem)
    ref = reference_for(kernel.operation, problem, native).double()
    gen = torch.Generator().manual_seed(seed)
    call = _Canonical(kernel, module, native, torch_dtype(problem.dtype), device, kernel.weight_permutation(problem))
    x = make_inputs(native, GATE_BATCH, gen)
    with torch.no_grad():
        expected = ref(*x)
    try:
        first, second = call(*x), call(*x)
        for name, out in (("first", first), ("second", second)):
            err = block_error(out, expected, native.irreps_out)
            if not err <= tol["fwd"]:
                return f"after timing: {_why('fwd', 'error', err, tol['fwd'])} ({name} re-check call)"
        err = block_error(second, first, native.irreps_out)
        if not err <= tol["fwd"]:
            return (f"after timing: non-deterministic: two calls on the same inputs differ by {err:.2e} "
                    f"> {tol['fwd']:.0e}")
        if is_backward(pass_):
            cot = torch.randn(GATE_BATCH, native.irreps_out.dim, generator=gen, dtype=torch.float64)
            err = _grad_error(call, ref, "fwd+bwd", x, cot, [torch.zeros_like(t) for t in x])
            if not err <= tol["grad"]:
                return f"after timing: {_why('fwd+bwd', 'gradient error', err, tol['grad'])}"
    except WrongOutput as exc:
        return f"after timing: wrong output: {exc}"
    return None
