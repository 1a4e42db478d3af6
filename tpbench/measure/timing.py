"""Timers: one interface, a backend per device and method.

``timer.measure(fn)`` returns a :class:`Timing` with every raw sample in
milliseconds per call of ``fn``. All backends share one adaptive procedure
(:class:`AdaptiveTimer`):

1. **Warm-up by time**: call ``fn`` until ``warmup_s`` has passed *and* at
   least ``min_warmup_calls`` calls ran (JIT, autotuning and allocator warm-up
   happen here). The fastest warm-up call ``t_1`` estimates the cost of a call.
2. **Calibration**: a sample times ``n = ceil(min_sample_s / t_1)`` calls, so
   a sample lasts well above the clock's resolution (CPU ``perf_counter``:
   ~100 ns; CUDA events: ~0.5 µs).
3. **Adaptive sampling**: take samples until, with at least ``min_samples``,
   the relative half-width of the 99 % CI of the median
   ``(ci_high - ci_low) / (2 median)`` is at most ``target_rel_ci``
   (``stopped_by = "noise-target"``), or the sampling time reaches
   ``budget_s`` (``"budget"``), or ``max_samples`` were taken.

Backends (``timer`` names, recorded with each case):

``cpu``
    ``time.perf_counter`` around ``n`` calls; garbage collection off while
    sampling (a collection inside a sample would land on one case at random);
    glibc's heap pinned so that temporaries do not page-fault anew on every
    call (:mod:`tpbench.measure.heap`; recorded as ``heap``).
``cuda-hot``
    A CUDA event pair per sample around ``n`` back-to-back launches: caches
    stay warm, launch gaps overlap with the GPU's work as in a training loop.
``cuda-cold``
    One call per sample; before each, a buffer of at least twice the device's
    L2 size is overwritten so the call starts with a cold L2.
``cuda-graph``
    ``fn`` is captured once in a CUDA graph and replays are timed like
    ``cuda-hot``: no launch overhead. A call that cannot be captured falls
    back to ``cuda-hot`` and :attr:`Timing.fallback` says why.

The clock is injectable so tests drive the logic with a fake one; CUDA code
imports torch lazily and runs only on a CUDA device.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import time
from typing import Any, Callable, ClassVar

from tpbench.measure import heap
from tpbench.spec.errors import UserError
from tpbench.measure.stats import rel_ci

# --timer choices: a short name per method, "auto" picks per device.
TIMER_CHOICES = ("auto", "cpu", "hot", "cold", "graph")


@dataclasses.dataclass
class Timing:
    samples_ms: list[float]
    inner_loops: int
    timer: str
    warmup_s: float
    stopped_by: str  # "noise-target", "budget" or "max-samples"
    warmup_calls: int = 0
    sampling_s: float = 0.0
    fallback: str | None = None  # why the requested timer was replaced by another
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        """The record fields of this timing (the statistics are added by the runner)."""
        out = {
            "timer": self.timer, "samples_ms": self.samples_ms, "inner_loops": self.inner_loops,
            "stopped_by": self.stopped_by, "warmup_s": self.warmup_s, "warmup_calls": self.warmup_calls,
            "sampling_s": self.sampling_s,
        }
        if self.fallback:
            out["timer_fallback"] = self.fallback
        out.update(self.details)
        return out


@dataclasses.dataclass
class AdaptiveTimer:
    """Warm-up, calibration and the stopping rule; backends define :meth:`_sample`."""

    name: ClassVar[str] = "abstract"
    fallback_name: ClassVar[str] = "cpu"  # what runs when prepare() cannot honour the request
    warmup_s: float = 0.05
    min_warmup_calls: int = 1
    min_sample_s: float = 0.002
    budget_s: float = 1.0
    min_samples: int = 5
    max_samples: int = 1000
    target_rel_ci: float = 0.01
    clock: Callable[[], float] = time.perf_counter

    def _sample(self, fn: Callable, n: int) -> float:
        """Seconds taken by ``n`` calls of ``fn`` (host clock; CUDA backends override)."""
        t0 = self.clock()
        for _ in range(n):
            fn()
        return self.clock() - t0

    def setup(self) -> None:
        """Allocate what the timer itself needs; called before peak memory is measured."""

    def prepare(self, fn: Callable) -> tuple[Callable, str | None]:
        """The callable actually timed, and why it differs from the request (if it does)."""
        return fn, None

    def inner_loops(self, per_call_s: float) -> int:
        if per_call_s <= 0:
            return 1000
        # The epsilon keeps exact ratios (2**-8 / 2**-12) from rounding up by one.
        return max(1, math.ceil(self.min_sample_s / per_call_s - 1e-9))

    def calibrate(self, fn: Callable) -> tuple[int, float, int]:
        """Warm up; return the inner-loop count, the warm-up time and the number of warm-up calls."""
        start = self.clock()
        per_call = self._sample(fn, 1)
        calls = 1
        while calls < self.min_warmup_calls or self.clock() - start < self.warmup_s:
            per_call = min(per_call, self._sample(fn, 1))
            calls += 1
        return self.inner_loops(per_call), self.clock() - start, calls

    def sample(self, fn: Callable, n: int) -> tuple[list[float], str, float]:
        """Samples (ms per call) until the noise target, the budget or ``max_samples``."""
        samples: list[float] = []
        start = self.clock()
        stopped = "max-samples"
        was_enabled = gc.isenabled()
        # Young garbage from warm-up is collected now, not inside a sample; a full
        # collection would cost ~1 s with torch and e3nn loaded (300k objects).
        gc.collect(1)
        gc.disable()
        try:
            while len(samples) < self.max_samples:
                samples.append(self._sample(fn, n) / n * 1e3)
                if len(samples) < self.min_samples:
                    continue
                if rel_ci(samples) <= self.target_rel_ci:
                    stopped = "noise-target"
                    break
                if self.clock() - start >= self.budget_s:
                    stopped = "budget"
                    break
        finally:
            if was_enabled:
                gc.enable()
        return samples, stopped, self.clock() - start

    def measure(self, fn: Callable) -> Timing:
        self.setup()
        timed, fallback = self.prepare(fn)
        n, warm, calls = self.calibrate(timed)
        samples, stopped, spent = self.sample(timed, n)
        name = self.name if fallback is None else self.fallback_name
        return Timing(samples, n, name, warm, stopped, calls, spent, fallback, self.details())

    def details(self) -> dict[str, Any]:
        return {}


@dataclasses.dataclass
class CPUTimer(AdaptiveTimer):
    """``perf_counter`` around a calibrated inner loop (see the module docstring)."""

    name: ClassVar[str] = "cpu"

    def setup(self) -> None:
        heap.pin()

    def details(self) -> dict[str, Any]:
        return {"heap": heap.pin()}


@dataclasses.dataclass
class CUDAEventTimer(AdaptiveTimer):
    """``cuda-hot``: a CUDA event pair per sample around ``n`` back-to-back calls.

    The host clock only decides when to stop; the samples are device time.
    """

    name: ClassVar[str] = "cuda-hot"
    min_sample_s: float = 0.0005

    def _sample(self, fn: Callable, n: int) -> float:
        import torch

        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(n):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3



@dataclasses.dataclass
class CUDAColdTimer(CUDAEventTimer):
    """``cuda-cold``: one call per sample, each after flushing L2.

    The flush overwrites ``max(2 L2, 64 MiB)`` bytes on the same stream before
    the start event, so it is ordered before the call but not timed.
    """

    name: ClassVar[str] = "cuda-cold"
    _flush: Any = dataclasses.field(default=None, repr=False)

    def setup(self) -> None:
        import torch

        # Allocated before the runner's peak-memory baseline, so it is not the kernel's memory.
        if self._flush is None:
            self._flush = torch.empty(l2_flush_bytes(), dtype=torch.uint8, device="cuda")

    def inner_loops(self, per_call_s: float) -> int:
        return 1  # every call must start cold

    def _sample(self, fn: Callable, n: int) -> float:
        self._flush.fill_(1)
        return super()._sample(fn, 1)

    def details(self) -> dict[str, Any]:
        return {"l2_flush_bytes": int(self._flush.numel()) if self._flush is not None else None}


def l2_flush_bytes(device: Any = None) -> int:
    """Twice the device's L2 size (from its properties), at least 64 MiB."""
    import torch

    props = torch.cuda.get_device_properties(device if device is not None else torch.cuda.current_device())
    l2 = int(getattr(props, "L2_cache_size", 0) or 0)
    # Without the property, 256 MiB is over twice any current L2 (B200: ~126 MiB).
    return max(2 * l2, 64 * 2**20) if l2 else 256 * 2**20


@dataclasses.dataclass
class CUDAGraphTimer(CUDAEventTimer):
    """``cuda-graph``: time replays of ``fn`` captured in a CUDA graph (or fall back to ``cuda-hot``)."""

    name: ClassVar[str] = "cuda-graph"
    fallback_name: ClassVar[str] = "cuda-hot"
    capture_warmup_calls: int = 3

    def prepare(self, fn: Callable) -> tuple[Callable, str | None]:
        import torch

        try:
            graph = capture_graph(fn, self.capture_warmup_calls)
        except Exception as exc:  # any capture failure: time launches instead, and say why
            try:
                torch.cuda.synchronize()
            except RuntimeError:  # an invalidated capture may leave an error to collect; it is not sticky
                pass
            return fn, f"graph capture failed: {type(exc).__name__}: {exc}"[:500]
        return graph.replay, None


def capture_graph(fn: Callable, warmup_calls: int = 3):
    """Capture ``fn`` in a CUDA graph after warming it up on a side stream (as PyTorch requires)."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup_calls):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    torch.cuda.synchronize()
    return graph


TIMERS: dict[str, type[AdaptiveTimer]] = {
    "cpu": CPUTimer, "hot": CUDAEventTimer, "cold": CUDAColdTimer, "graph": CUDAGraphTimer,
}
_FULL_NAMES = {"cuda-hot": "hot", "cuda-cold": "cold", "cuda-graph": "graph", "cuda-events": "hot"}


def resolve_timer(device: str, timer: str | None = None) -> str:
    """The short timer name for ``device``: ``auto`` is ``cpu`` on the CPU and ``hot`` on CUDA."""
    choice = _FULL_NAMES.get(timer or "auto", timer or "auto")
    cuda = device.startswith("cuda")
    if choice == "auto":
        return "hot" if cuda else "cpu"
    if choice not in TIMERS:
        raise UserError(f"unknown timer {timer!r}; expected one of {', '.join(TIMER_CHOICES)}")
    if cuda != (choice != "cpu"):
        raise UserError(f"timer {timer!r} does not run on device {device!r}"
                        f" ({'cuda' if choice != 'cpu' else 'cpu'} only)")
    return choice


def timer_for(device: str, timer: str | None = None, **settings) -> AdaptiveTimer:
    """A timer for ``device``; ``timer`` is a :data:`TIMER_CHOICES` name (default ``auto``)."""
    return TIMERS[resolve_timer(device, timer)](**settings)
