"""Peak memory of a case.

GPU
    ``peak_memory_mb``: the peak of ``torch.cuda.max_memory_allocated`` above
    the allocation when the case starts (peak statistics reset and the device
    synchronised first); ``peak_reserved_mb``: the caching allocator's reserved
    peak over the same span (what ``nvidia-smi`` would show, minus the context).
CPU
    ``peak_rss_mb``: Linux's high-water mark of the resident set (``VmHWM``)
    over the case, after resetting it to the current RSS by writing ``5`` to
    ``/proc/self/clear_refs``; ``peak_rss_delta_mb`` is that peak minus the RSS
    at the start. Chosen over a fresh process per case because it works in the
    reused isolated worker and in-process alike, at no cost; over
    ``ru_maxrss`` because that never goes down, so a reused process would report
    the largest earlier case. The heap's free memory is given back to the OS
    first (:func:`tpbench.measure.heap.release`), else memory freed by an earlier case
    would be reused without raising the RSS. Where that is not possible (not
    glibc) the delta is a lower bound of what the case allocates; the absolute
    peak is exact. tracemalloc does not see tensor storage, so it is not used.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

from tpbench.measure import heap

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS; ``False`` where the kernel does not allow it."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


@contextlib.contextmanager
def cpu_peak() -> Iterator[dict[str, Any]]:
    """Fill the yielded dict with the peak RSS of the block (see the module docstring)."""
    out: dict[str, Any] = {}
    heap.release()
    reset = reset_peak_rss()
    base = _status_kb("VmRSS")
    try:
        yield out
    finally:
        peak = _status_kb("VmHWM")
        if peak is None:
            out["peak_rss_method"] = "unavailable (no /proc/self/status)"
        else:
            out["peak_rss_mb"] = peak / 1024
            out["peak_rss_delta_mb"] = (peak - base) / 1024 if reset and base is not None else None
            out["peak_rss_method"] = "VmHWM after clear_refs" if reset else "VmHWM since process start"


@contextlib.contextmanager
def cuda_peak(device: str) -> Iterator[dict[str, Any]]:
    """Fill the yielded dict with the peak allocated (above the start) and reserved GPU memory."""
    import torch

    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    out: dict[str, Any] = {}
    try:
        yield out
    finally:
        torch.cuda.synchronize(device)
        out["peak_memory_mb"] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
        out["peak_reserved_mb"] = torch.cuda.max_memory_reserved(device) / 2**20


def peak_memory(device: str):
    """The context manager measuring peak memory on ``device``."""
    return cuda_peak(device) if device.startswith("cuda") else cpu_peak()
