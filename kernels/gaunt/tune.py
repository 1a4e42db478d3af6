"""Pick a module's method per mode by timing its candidates at build: a short, interleaved autotune.

Which transform is fastest depends on sizes, BLAS, cache and memory bandwidth in ways a
fixed degree threshold does not capture (on 2 CPU cores the grid transforms of
``mimo(L)`` are bound by writing the ``(grid, batch)`` intermediates, not by flops:
halving the flops with the equator split pays only where the products become
compute-bound). So each candidate is run on the problem's own shapes (the batch capped
at :data:`TUNE_ROWS`) in both modes — ``"fwd"`` (no autograd) and ``"grad"`` (forward
and backward) — interleaved over :data:`ROUNDS` rounds so that drift falls on all
alike. Each candidate's time is its minimum over rounds (interference only ever adds
time); the fastest is kept per mode unless it is within :data:`MARGIN` of the default
(the first candidate), and a candidate whose best of :data:`PRUNE_AFTER` rounds is
:data:`CLEAR_LOSS` times the leader's is not timed again. On an oversubscribed machine
a candidate made of many short parallel operations can stall in every round (a worker
thread descheduled, the others spinning at the barrier: measured here, a 0.8 ms call
taking 95 ms); the autotune then rightly avoids it, for that machine state. The timings
stay on the module (``tuned``) and the choice is reported by the kernel's ``effective_method``.
"""

from __future__ import annotations

import time

import torch

TUNE_ROWS = 8192  # per-call overheads dominate far smaller batches and would bias the choice
ROUNDS = 4
MARGIN = 0.1  # another method replaces the first (the default) only when this much faster: noise is no reason
# A candidate whose best of PRUNE_AFTER timed rounds is CLEAR_LOSS times the leader's is not timed again.
# One round is not enough: on a shared machine one call can take 10-100x its usual time.
CLEAR_LOSS = 2.0
PRUNE_AFTER = 2


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _once(module: torch.nn.Module, mode: str, x1: torch.Tensor, x2: torch.Tensor, w: torch.Tensor) -> float:
    _sync(x1.device)
    start = time.perf_counter()
    if mode == "fwd":
        with torch.no_grad():
            module(x1, x2)
    else:
        with torch.enable_grad():  # builds may run under no_grad
            torch.autograd.grad(module(x1, x2), (x1, x2), w)
    _sync(x1.device)
    return time.perf_counter() - start


def autotune(module: torch.nn.Module, methods: tuple[str, ...], dims: tuple[int, int, int], batch: int,
             rows: int = TUNE_ROWS, rounds: int = ROUNDS) -> dict[str, dict[str, float]]:
    """Set ``module.method[mode]`` to the fastest of ``methods``; returns the timings (ms) per mode and method.

    ``methods[0]`` is the default: another replaces it only when :data:`MARGIN` faster.

    ``dims``: ``(d1, d2, d_out)`` of the module's inputs and output.
    """
    buf = next(module.buffers())
    gen = torch.Generator(device=buf.device).manual_seed(0)
    n = max(1, min(batch, rows))
    x1, x2, w = (torch.randn(n, d, generator=gen, device=buf.device, dtype=buf.dtype) for d in dims)
    x1.requires_grad_(True)
    x2.requires_grad_(True)
    best = {mode: {m: float("inf") for m in methods} for mode in ("fwd", "grad")}
    if len(methods) > 1:
        for round_ in range(rounds + 1):  # round 0 warms up (allocations, first-call setup)
            for mode in best:
                lead = min(best[mode].values())
                for m in methods:
                    if round_ > PRUNE_AFTER and best[mode][m] > CLEAR_LOSS * lead:
                        continue
                    module.method[mode] = m
                    t = _once(module, mode, x1, x2, w)
                    if round_:
                        best[mode][m] = min(best[mode][m], t * 1e3)
    for mode, times in best.items():
        fastest, default = min(times, key=times.get), methods[0]
        module.method[mode] = fastest if times[fastest] < (1 - MARGIN) * times[default] else default
    module.tuned = {"rows": n, **best}
    return module.tuned
