"""Execution variants of a case: eager, or compiled with ``torch.compile``.

=========================  ============================================
variant                    how the module runs
=========================  ============================================
``eager``                  as built
``compile-default``        ``torch.compile(module)``
``compile-reduce-overhead`` ``torch.compile(module, mode="reduce-overhead")`` (CUDA graphs on GPU)
``compile-max-autotune``   ``torch.compile(module, mode="max-autotune")``
``compile-dynamic``        ``torch.compile(module, dynamic=True)``
=========================  ============================================

``torch.compile`` is lazy: compilation happens in the first call of the pass.
That call is timed on its own as ``compile_s`` (it includes one execution,
negligible next to compilation) and is never part of the runtime samples;
the timer's warm-up then absorbs any recompilation or autotuning left.

Compiled code is checked against the eager module on the same inputs before
it is timed: ``compiled_rel_error = max_i ‖c_i − e_i‖ / ‖e_i‖`` over the
pass's outputs must be within the gate tolerance of the precision, else the
case is ``incorrect`` (:class:`CompiledMismatch`). A compilation failure is
:class:`CompileError`, recorded as the case's ``error``.

Dynamo's caches are reset before each compiled case: modules of one class
share a ``forward`` code object, and after ``cache_size_limit`` compilations
of it Dynamo would silently run the rest eagerly.
"""

from __future__ import annotations

import time
from typing import Any, Callable

VARIANTS: dict[str, dict[str, Any] | None] = {
    "eager": None,
    "compile-default": {},
    "compile-reduce-overhead": {"mode": "reduce-overhead"},
    "compile-max-autotune": {"mode": "max-autotune"},
    "compile-dynamic": {"dynamic": True},
}


class CompileError(RuntimeError):
    """``torch.compile`` failed for this module and pass."""


class CompiledMismatch(RuntimeError):
    """The compiled module's outputs differ from the eager module's beyond tolerance."""


def compile_options(variant: str) -> dict[str, Any] | None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    return VARIANTS[variant]


def rel_difference(got: list, want: list) -> float:
    """``max_i ‖got_i − want_i‖ / ‖want_i‖`` (absolute where ``want_i`` is zero; ``None`` entries skipped)."""
    worst = 0.0
    for g, w in zip(got, want):
        if g is None or w is None:
            continue
        g, w = g.detach().double(), w.detach().double()
        scale = float(w.norm()) or 1.0
        worst = max(worst, float((g - w).norm()) / scale)
    return worst


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


def prepare(module, variant: str, make_fn: Callable[[Any], Callable[[], list]], device: str,
            tolerance: float) -> tuple[Callable[[], list], dict[str, Any]]:
    """The pass to time for ``variant`` and its record fields.

    ``make_fn(module)`` builds the pass closure on a module, with fixed inputs
    and cotangents so the eager and compiled passes see the same data.
    """
    options = compile_options(variant)
    if options is None:
        return make_fn(module), {}
    import torch

    torch._dynamo.reset()
    compiled_fn = make_fn(torch.compile(module, **options))
    t0 = time.perf_counter()
    try:
        got = compiled_fn()
        _sync(device)
    except Exception as exc:  # Dynamo/Inductor raise many types; all mean "did not compile"
        raise CompileError(f"{variant} failed: {type(exc).__name__}: {str(exc)[:1500]}") from exc
    compile_s = time.perf_counter() - t0
    err = rel_difference(got, make_fn(module)())
    fields = {"compile_s": compile_s, "compile_options": dict(options), "compiled_rel_error": err,
              "compiled_tolerance": tolerance}
    if not err <= tolerance:
        raise CompiledMismatch(f"{variant} output differs from eager by {err:.2e} > {tolerance:.0e}")
    return compiled_fn, fields
