"""Interleaved rounds for the benchmark scripts: every contender runs once per round, in turn,
so the machine's drift (2–4× within minutes on shared CPUs) hits them alike."""

from __future__ import annotations

import statistics
import time
from typing import Callable, Hashable


def interleaved_medians(fns: dict[Hashable, Callable[[], object]], rounds: int,
                        warmup: int = 1) -> dict[Hashable, float]:
    """Median seconds of each function over ``rounds`` round-robin calls, after ``warmup`` calls of each."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: dict[Hashable, list[float]] = {key: [] for key in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[key].append(time.perf_counter() - start)
    return {key: statistics.median(s) for key, s in samples.items()}
