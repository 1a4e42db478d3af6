"""The CPU heap while timing: glibc's page faults, pinned away; given back between cases.

glibc's ``malloc`` serves blocks above ``M_MMAP_THRESHOLD`` with ``mmap`` (unmapped
again on ``free``) and hands the top of the heap back to the OS once more than
``M_TRIM_THRESHOLD`` is free there; both thresholds move with the sizes freed so
far. A kernel whose large temporaries are freed in an unlucky order then
page-faults every page of them on every call, and whether a process is in that
state depends on what ran in it before. Measured (``mimo(3)``, batch 10⁴, fp32,
2 threads, fwd+bwd, two fresh processes each): ``gaunt-grid`` 1360–2190 minor
faults per call and 10.4–11.4 ms, the three-matmul transform 770–960 faults and
10.5–11.3 ms; pinned, ~100 and 0 faults, 7.4–7.6 and 9.5–9.8 ms. How much a
kernel loses is the allocator's doing, not the kernel's. GPU kernels never pay
it (PyTorch's CUDA caching allocator keeps freed blocks); on CPU the usual
advice is jemalloc or tcmalloc.

:func:`pin` does the same within glibc, no extra library: ``M_MMAP_MAX = 0``
(every block from the heap) and a 2 GiB ``M_TRIM_THRESHOLD`` (setting it also
freezes both thresholds), so freed temporaries are reused without faults, as a
caching allocator would. :func:`release` (``malloc_trim(0)``) gives the free
memory back at the start of each measured case, so peak-RSS deltas
(:mod:`tpbench.measure.memory`) start from an honest baseline.

``TPBENCH_SYSTEM_HEAP=1`` leaves the heap as the system has it (for comparison);
anything but glibc is left alone. Either way the record's ``heap`` field says
what was used.
"""

from __future__ import annotations

import ctypes
import os
import platform
from functools import lru_cache

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes a C int
OPT_OUT = "TPBENCH_SYSTEM_HEAP"


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


@lru_cache(maxsize=1)
def pin() -> str:
    """Pin glibc's heap for the rest of the process (once); return what the heap now is."""
    if os.environ.get(OPT_OUT, "") not in ("", "0"):
        return f"system ({OPT_OUT} set)"
    libc = _libc()
    if libc is None:
        return f"system (not glibc: {platform.system()} {platform.libc_ver()[0] or 'unknown libc'})"
    if not (libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        return "system (mallopt refused)"
    return "glibc pinned: no mmap, no trim"


def release() -> None:
    """Give the heap's free memory back to the OS (glibc only; a no-op elsewhere)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
