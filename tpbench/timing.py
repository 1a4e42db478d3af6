"""Timers: one interface, a backend per device.

``measure(fn)`` returns every raw sample in milliseconds per call of ``fn``.

CPU (:class:`CPUTimer`)
    ``time.perf_counter`` around an inner loop of ``n`` calls; ``n`` is
    calibrated so one sample lasts at least ``min_sample_s`` (far above the
    timer's resolution); garbage collection is off while sampling. Warm-up
    runs ``fn`` for at least ``warmup_s``. Sampling stops when the relative
    half-width of the CI of the median is under ``target_rel_ci`` (with at
    least ``min_samples``), or when ``budget_s`` is spent.
CUDA (:class:`CUDAEventTimer`)
    The same loop, each sample bracketed by CUDA events after warm-up.

The clock is injectable so tests can drive the logic with a fake one.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from typing import Callable

from tpbench.stats import summarize


@dataclasses.dataclass
class Timing:
    samples_ms: list[float]
    inner_loops: int
    timer: str
    warmup_s: float
    stopped_by: str  # "noise-target", "budget" or "max-samples"


@dataclasses.dataclass
class CPUTimer:
    name = "cpu"
    warmup_s: float = 0.05
    min_sample_s: float = 0.002
    budget_s: float = 1.0
    min_samples: int = 5
    max_samples: int = 1000
    target_rel_ci: float = 0.01
    clock: Callable[[], float] = time.perf_counter

    def _sample(self, fn: Callable, n: int) -> float:
        t0 = self.clock()
        for _ in range(n):
            fn()
        self.sync()
        return self.clock() - t0

    def sync(self) -> None:
        """Wait for queued work (nothing to wait for on the CPU)."""

    def calibrate(self, fn: Callable) -> tuple[int, float]:
        """Warm up for ``warmup_s``; return inner-loop count and the warm-up time spent."""
        start = self.clock()
        per_call = self._sample(fn, 1)
        while self.clock() - start < self.warmup_s:
            per_call = min(per_call, self._sample(fn, 1))
        n = max(1, int(self.min_sample_s / per_call) + 1) if per_call > 0 else 1000
        return n, self.clock() - start

    def measure(self, fn: Callable) -> Timing:
        n, warm = self.calibrate(fn)
        samples: list[float] = []
        start = self.clock()
        stopped = "max-samples"
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            while len(samples) < self.max_samples:
                samples.append(self._sample(fn, n) / n * 1e3)
                if len(samples) >= self.min_samples:
                    if summarize(samples)["rel_ci"] <= self.target_rel_ci:
                        stopped = "noise-target"
                        break
                    if self.clock() - start >= self.budget_s:
                        stopped = "budget"
                        break
        finally:
            if was_enabled:
                gc.enable()
        return Timing(samples, n, self.name, warm, stopped)


@dataclasses.dataclass
class CUDAEventTimer(CPUTimer):
    """Per-sample CUDA events; the host clock only decides when to stop."""

    name = "cuda-hot"

    def sync(self) -> None:
        import torch

        torch.cuda.synchronize()

    def _sample(self, fn: Callable, n: int) -> float:
        import torch

        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(n):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3


def timer_for(device: str, **settings) -> CPUTimer:
    return (CUDAEventTimer if device.startswith("cuda") else CPUTimer)(**settings)
