"""The passes a case times, and the closure that runs one.

``fwd``          ``z = f(*inputs)``, no autograd graph (inference).
``fwd+bwd``      ``z = f(*inputs)``; ``g_i = <dz, ∂z/∂input_i>`` for every input,
                 the weights included, with a fixed random cotangent ``dz``.
``fwd+bwd+bwd``  the gradients above with ``create_graph=True``, then
                 ``∂/∂input_j sum_i <g_i, v_i>`` for fixed random ``v_i`` — the
                 double backward of force training.

Work of a pass relative to the forward pass: a reverse pass costs about twice
its forward, so ``fwd+bwd`` ≈ 3× and the double backward (the reverse of a 3×
graph) ≈ 9× (:data:`WORK`). Fewest bytes: the backward reads the cotangent and
writes one gradient per input (:data:`BYTES`).
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch

PASSES = ("fwd", "fwd+bwd", "fwd+bwd+bwd")
WORK = {"fwd": 1.0, "fwd+bwd": 3.0, "fwd+bwd+bwd": 9.0}
BYTES = {"fwd": 1.0, "fwd+bwd": 2.0, "fwd+bwd+bwd": 4.0}


def order(pass_: str) -> int:
    """Position of a pass in :data:`PASSES` (unknown names sort last)."""
    return PASSES.index(pass_) if pass_ in PASSES else len(PASSES)


def sort_passes(passes: Iterable[str]) -> list[str]:
    return sorted(set(passes), key=order)


def is_backward(pass_: str) -> bool:
    """Whether the pass differentiates: its outputs are gradients, held to the gradient tolerance."""
    return pass_ != "fwd"


def pass_function(module: torch.nn.Module, pass_: str, inputs: list[torch.Tensor],
                  cotangent: torch.Tensor | None = None,
                  second: Sequence[torch.Tensor] | None = None) -> Callable[[], list[torch.Tensor]]:
    """A zero-argument closure running one pass; returns what that pass produces.

    Setup (``requires_grad``, cotangents) happens here, outside the closure, so
    timers time only the pass itself.
    """
    if pass_ == "fwd":
        def run():
            with torch.no_grad():
                return [module(*inputs)]
        return run
    # Integer inputs (indices) are no leaves: their gradient is reported as None.
    leaves = [t.detach().requires_grad_(True) if t.is_floating_point() else t for t in inputs]
    wrt = [t for t in leaves if t.requires_grad]

    def expand(grads):
        it = iter(grads)
        return [next(it) if t.requires_grad else None for t in leaves]

    if cotangent is None:
        with torch.no_grad():
            cotangent = torch.randn_like(module(*leaves))
    if pass_ == "fwd+bwd":
        def run():
            return expand(torch.autograd.grad(module(*leaves), wrt, cotangent))
        return run
    if pass_ == "fwd+bwd+bwd":
        vs = list(second) if second is not None else [torch.randn_like(t) for t in wrt]
        if len(vs) == len(leaves):
            vs = [v for v, t in zip(vs, leaves) if t.requires_grad]

        def run():
            grads = torch.autograd.grad(module(*leaves), wrt, cotangent, create_graph=True)
            s = sum((g * v).sum() for g, v in zip(grads, vs))
            return expand(torch.autograd.grad(s, wrt, allow_unused=True))
        return run
    raise ValueError(f"unknown pass {pass_!r}")
